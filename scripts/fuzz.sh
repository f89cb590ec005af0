#!/usr/bin/env bash
# The readers of outside files (npy, IDX plain/limited/gzipped, CIFAR-10, checkpoints) under
# libFuzzer with ASan + UBSan, from a fresh Debian 12 machine (as root):
#   bash scripts/fuzz.sh            # 2,000 inputs per reader (as CI runs it)
#   bash scripts/fuzz.sh 100000     # the longer run of docs/reliability.md
# Installs clang, its fuzzer runtime and libomp when missing, configures and builds the fuzz preset
# (tests/fuzz/CMakeLists.txt) and runs one ctest per reader. Exit status 0 when no reader crashed,
# leaked, or threw anything but invar::Error; a crashing input is kept in build/fuzz/tests/fuzz/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-2000}"
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: the number of inputs per reader must be a positive integer, not '$runs'" >&2
  exit 2
fi

bash scripts/install-deps.sh clang libclang-rt-dev libomp-dev
cmake --preset fuzz -DINVAR_LIBFUZZER_RUNS="$runs"
cmake --build --preset fuzz -j "${JOBS:-$(nproc 2>/dev/null || echo 2)}"
ctest --preset fuzz --verbose 2>&1 | grep -E "DONE|Done [0-9]+ runs|Test +#|tests passed|FAILED|ERROR|Failed"
