#!/usr/bin/env bash
# Regenerate the reference results (results/reference/) on the real catalog:
# experiments/compare-strategies.toml and experiments/multi-fidelity.toml on both
# feature sets, then the side-by-side tables; diabetes.toml and earthquake-hgb.toml.
# seed-toy.toml; earthquake-strong.toml on both feature sets. 23 minutes on a 2-core AMD
# EPYC when earthquake-hgb.toml took 13 of them (its workers' OpenMP pools unlimited); it
# now takes 49 s.
# Usage: bash experiments/reference.sh [OUT_ROOT]
set -euo pipefail
out=${1:-results/reference}
for experiment in compare-strategies multi-fidelity; do
    for features in challenge extended; do
        hpsearch run "experiments/$experiment.toml" --features "$features" \
            --out "$out/$experiment-$features" --quiet
    done
    hpsearch compare "$out/$experiment-challenge" "$out/$experiment-extended" \
        --format md --output "$out/$experiment-features.md"
done
for experiment in diabetes earthquake-hgb seed-toy; do
    hpsearch run "experiments/$experiment.toml" --out "$out/$experiment" --quiet
done
for features in challenge extended; do
    hpsearch run experiments/earthquake-strong.toml --features "$features" \
        --out "$out/earthquake-strong-$features" --quiet
done
