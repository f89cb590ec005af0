#!/usr/bin/env bash
# invar's main job, from a fresh Debian 12 machine (as root):
#   bash scripts/main.sh [arguments for the program]
# Installs the missing Debian packages, builds MAIN_TARGET with the `release` preset and runs it.
# The main job is invar-train's default run: an MLP on Fashion-MNIST, trained with cross-entropy
# (baseline) and with the mixed objective of Eq. 1, then a table of test accuracy, the top layer's
# invariance score and time (a few minutes on 2 cores). Arguments go to invar-train
# (bash scripts/main.sh --help lists them).
set -euo pipefail

# The program this script builds and runs: a tool of apps/ (invar-train) or an example of examples/.
MAIN_TARGET="${MAIN_TARGET:-invar-train}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

bash scripts/install-deps.sh
# Same build tree as scripts/test.sh, no cache overrides (they would stick); only the one target is built.
cmake --preset release
cmake --build --preset release -j "$jobs" --target "$MAIN_TARGET"

for dir in apps examples; do
  if [[ -x "build/release/$dir/$MAIN_TARGET" ]]; then
    echo "==> main.sh: running build/release/$dir/$MAIN_TARGET $*"
    exec "build/release/$dir/$MAIN_TARGET" "$@"
  fi
done
echo "main.sh: build/release/{apps,examples}/$MAIN_TARGET was not built" >&2
exit 1
