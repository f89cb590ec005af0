#!/bin/bash
# The anti-collapse experiment of docs/anti_collapse.md on Fashion-MNIST: the main job's MLP
# (784-512-256-10), 20 epochs, seeds 1, 2, 3, for baseline, invariance-only, mixed and
# anticollapse, then an ablation of each penalty (anticollapse with that penalty's weight 0),
# then invar-report on every group. About 45 minutes of training on 2 cores.
#   bash scripts/anticollapse-experiment.sh [output folder, default runs/anticollapse]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/anticollapse}
train=build/release/apps/invar-train
report=build/release/apps/invar-report
[ -x "$train" ] && [ -x "$report" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
seeds=1,2,3
"$train" -o baseline,invariance,mixed,anticollapse --seed "$seeds" --out "$out/main" -q
"$train" -o anticollapse --variance 0 --seed "$seeds" --out "$out/no-variance" -q
"$train" -o anticollapse --covariance 0 --seed "$seeds" --out "$out/no-covariance" -q
"$train" -o anticollapse --pc1 0 --seed "$seeds" --out "$out/no-pc1" -q
"$report" "$out/main" --out "$out/main-report"
