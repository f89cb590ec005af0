#!/usr/bin/env bash
# invar's main job, from a fresh Debian 12 machine (as root):
#   bash scripts/main.sh [arguments for invar-train]
# Installs the missing Debian packages, builds invar-train and invar-report with the `release`
# preset, trains and reports:
#   1. invar-train's default run: an MLP on Fashion-MNIST, trained with cross-entropy (baseline)
#      and with the mixed objective of Eq. 1, then a table of test accuracy, the top layer's
#      invariance score and time (a few minutes on 2 cores); runs/invar-train/ (or --out);
#   2. invar-report on those runs: probes, PCA, dissimilarity matrices, per-layer invariance and
#      CKA, t-SNE, as an HTML page with SVG figures and report.json in runs/invar-report/
#      (REPORT_OUT overrides the folder; REPORT=0 skips the report).
# Arguments go to invar-train (bash scripts/main.sh --help lists them).
# MAIN_TARGET=<tool or example> builds and runs that program alone with the arguments instead.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

bash scripts/install-deps.sh
# Same build tree as scripts/test.sh, no cache overrides (they would stick); only the programs run here are built.
cmake --preset release

if [[ -n "${MAIN_TARGET:-}" ]]; then
  cmake --build --preset release -j "$jobs" --target "$MAIN_TARGET"
  for dir in apps examples; do
    if [[ -x "build/release/$dir/$MAIN_TARGET" ]]; then
      echo "==> main.sh: running build/release/$dir/$MAIN_TARGET $*"
      exec "build/release/$dir/$MAIN_TARGET" "$@"
    fi
  done
  echo "main.sh: build/release/{apps,examples}/$MAIN_TARGET was not built" >&2
  exit 1
fi

cmake --build --preset release -j "$jobs" --target invar-train invar-report

# The folder invar-train writes (its --out), which the report reads.
runs="runs/invar-train"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --out) runs="${args[i + 1]:-$runs}" ;;
    --out=*) runs="${args[i]#--out=}" ;;
    -h | --help | --help-all) exec build/release/apps/invar-train "${args[@]}" ;;
  esac
done

echo "==> main.sh: build/release/apps/invar-train $*"
build/release/apps/invar-train "$@"
if [[ "${REPORT:-1}" != 0 ]]; then
  report_out="${REPORT_OUT:-runs/invar-report}"
  echo "==> main.sh: build/release/apps/invar-report $runs --out $report_out"
  build/release/apps/invar-report "$runs" --out "$report_out"
fi
