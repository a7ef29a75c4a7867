#!/usr/bin/env bash
# Regenerate the reference comparison (results/reference/) on the real catalog:
# experiments/compare-strategies.toml on both feature sets, then the side-by-side table.
# About 15 minutes on 2 cores. Usage: bash experiments/reference.sh [OUT_ROOT]
set -euo pipefail
out=${1:-results/reference}
for features in challenge extended; do
    hpsearch run experiments/compare-strategies.toml --features "$features" \
        --out "$out/compare-strategies-$features" --quiet
done
hpsearch compare "$out/compare-strategies-challenge" "$out/compare-strategies-extended" \
    --format md --output "$out/compare-features.md"
