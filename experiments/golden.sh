#!/usr/bin/env bash
# Are the trials of the four golden runs unchanged since REV? (for a change that must not
# change results: a refactor, a move). Runs quickstart, random + grid on the extended features
# with 2 repetitions, Hyperband, and TPE + QMC, at REV and in this checkout, on the catalog in
# $HPSEARCH_DATA, and compares trials.csv bit for bit, timing columns aside. About 40 s.
#
#   HPSEARCH_DATA=datasets bash experiments/golden.sh 78eee83
set -euo pipefail
rev=${1:?usage: golden.sh REV}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$here" archive "$rev" | (mkdir "$work/old" && tar -x -C "$work/old")
config="$here/experiments"
for side in old new; do
    root=$([ $side = old ] && echo "$work/old" || echo "$here")
    (cd "$work" && export PYTHONPATH="$root" &&
     python -m hpsearch run "$config/quickstart.toml" --out "$work/$side/quick" --quiet --figures none &&
     python -m hpsearch run "$config/compare-strategies.toml" --strategies random,grid --features extended \
         --repetitions 2 --trials 12 --out "$work/$side/rg" --quiet --figures none &&
     python -m hpsearch run "$config/multi-fidelity.toml" --strategies hyperband --repetitions 1 \
         --out "$work/$side/hb" --quiet --figures none &&
     python -m hpsearch run "$config/compare-strategies.toml" --strategies tpe,optuna:QMCSampler \
         --repetitions 2 --trials 12 --out "$work/$side/tpe" --quiet --figures none) >/dev/null 2>&1
done
python - "$work" <<'PY'
import sys
import pandas as pd
work, timing = sys.argv[1], ["seconds", "started_at", "finished_at", "virtual_start", "virtual_end"]
for run in ("quick", "rg", "hb", "tpe"):
    a, b = (pd.read_csv(f"{work}/{side}/{run}/trials.csv") for side in ("old", "new"))
    pd.testing.assert_frame_equal(a.drop(columns=timing, errors="ignore"), b.drop(columns=timing, errors="ignore"),
                                  check_exact=True)
    print(f"{run}: {len(a)} trials identical")
PY
