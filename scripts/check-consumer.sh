#!/usr/bin/env bash
# Checks that a separate project can use invar in each supported way, with tests/consumer
# (a user program with its own metric):
#   1. find_package(invar CONFIG REQUIRED) after `cmake --install` into a temporary prefix
#   2. add_subdirectory(<this source tree>)
#   3. FetchContent: from this git checkout (GIT_REPOSITORY <path>, GIT_TAG <HEAD commit>) when the
#      work tree is clean, else from the source tree itself (SOURCE_DIR); both work offline
# Each one configures, builds and runs the consumer. Temporary directories are removed on exit.
#   bash scripts/check-consumer.sh        (KEEP_TMP=1 keeps them for a look)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/invar-consumer.XXXXXX")"
cleanup() {
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "check-consumer: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
# Warnings a user would see from invar's headers (reported, not fatal).
cxx_flags="${CONSUMER_CXX_FLAGS:--Wall -Wextra}"

consumer() {  # consumer <name> <cmake args...>: configure, build and run tests/consumer
  local name=$1; shift
  local t0=$SECONDS
  local build="$tmp/consumer-$name"
  echo "==> check-consumer: $name"
  cmake -S "$root/tests/consumer" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS="$cxx_flags" "$@"
  cmake --build "$build" -j "$jobs"
  "$build/consumer"
  echo "==> check-consumer: $name passed in $((SECONDS - t0)) s"
}

# 1. Install into a temporary prefix, then find_package.
t0=$SECONDS
echo "==> check-consumer: cmake --install into $tmp/prefix"
cmake -S "$root" -B "$tmp/invar-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$tmp/prefix" -DINVAR_INSTALL=ON -DINVAR_BUILD_TESTS=OFF \
  -DINVAR_BUILD_EXAMPLES=OFF -DINVAR_BUILD_BENCHMARKS=OFF -DINVAR_CUDA=OFF
cmake --build "$tmp/invar-build"
cmake --install "$tmp/invar-build"
for f in include/invar/invar.hpp share/cmake/invar/invarConfig.cmake share/cmake/invar/invarConfigVersion.cmake \
         share/cmake/invar/invarTargets.cmake; do
  [[ -f "$tmp/prefix/$f" ]] || { echo "check-consumer: install is missing $f" >&2; exit 1; }
done
echo "==> check-consumer: install took $((SECONDS - t0)) s"
consumer find_package -DINVAR_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF

# 2. add_subdirectory of this source tree.
consumer add_subdirectory -DINVAR_CONSUMER_MODE=add_subdirectory -DINVAR_SOURCE_DIR="$root"

# 3. FetchContent, offline.
if git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1 &&
   [[ -z "$(git -C "$root" status --porcelain --untracked-files=normal 2>/dev/null)" ]]; then
  consumer fetchcontent_git -DINVAR_CONSUMER_MODE=fetchcontent -DINVAR_GIT_REPOSITORY="$root" \
    -DINVAR_GIT_TAG="$(git -C "$root" rev-parse HEAD)" -DFETCHCONTENT_QUIET=OFF
else
  echo "check-consumer: no commit or a modified work tree: FetchContent from SOURCE_DIR instead of git"
  consumer fetchcontent_source_dir -DINVAR_CONSUMER_MODE=fetchcontent -DINVAR_SOURCE_DIR="$root"
fi

echo "==> check-consumer: all modes passed"
