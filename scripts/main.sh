#!/usr/bin/env bash
# invar's main job, from a fresh Debian 12 machine (as root):
#   bash scripts/main.sh [arguments for the program]
# Installs the missing Debian packages, builds the `release` preset's examples and runs MAIN_TARGET.
set -euo pipefail

# The program this script builds and runs: an executable built from examples/<MAIN_TARGET>.cpp.
MAIN_TARGET="${MAIN_TARGET:-train_mlp}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

bash scripts/install-deps.sh
# Same build tree as scripts/test.sh, no cache overrides (they would stick); only the one target is built.
cmake --preset release
cmake --build --preset release -j "$jobs" --target "$MAIN_TARGET"

echo "==> main.sh: running build/release/examples/$MAIN_TARGET $*"
exec "build/release/examples/$MAIN_TARGET" "$@"
