#!/usr/bin/env bash
# invar's test suite, from a fresh Debian 12 machine (as root) to a ctest report:
#   bash scripts/test.sh
# Installs the missing Debian packages, configures and builds the `release` preset
# (tests, examples, benchmarks) and runs ctest. JOBS=<n> overrides the build parallelism.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

stage_start=$SECONDS
stage() {  # stage <name> <command...>: runs a stage and prints how long it took
  local name=$1; shift
  local t0=$SECONDS
  echo "==> test.sh: $name"
  "$@"
  echo "==> test.sh: $name took $((SECONDS - t0)) s"
}

stage "install dependencies" bash scripts/install-deps.sh
# In CI (CI=true: a fresh clone, built once) the test binary is a unity build, as in the asan
# preset: the same tests in fewer translation units, about 40 % less compile time. Elsewhere each
# test file stays its own translation unit (fast incremental rebuilds), and nothing sticks in
# the cache that scripts/main.sh shares.
configure_extra=()
if [[ "${CI:-}" == true ]]; then
  configure_extra=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=14)
fi
# The CUDA sources (invar::cuda, tests/cuda) always compile where nvcc exists, also when it is not
# on the PATH (CUDA's default prefix); they run only where a GPU is, and report skipped elsewhere.
if [[ -z "${CUDACXX:-}" ]] && ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
stage "configure (release)" cmake --preset release "${configure_extra[@]}"
stage "build (release, -j$jobs)" cmake --build --preset release -j "$jobs"
stage "test (release)" ctest --preset release
echo "==> test.sh: total $((SECONDS - stage_start)) s"
