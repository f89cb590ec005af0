#!/usr/bin/env bash
# Checks that a separate project can use invar in each supported way, with tests/consumer
# (a user program with its own metric that uses the trainer, so it needs the component
# invar::train):
#   1. find_package(invar CONFIG REQUIRED COMPONENTS train) after `cmake --install` of a fresh
#      build into a temporary prefix; the installed tools run (<prefix>/bin/invar-train --version),
#      and the package config names a component that is asked for and missing
#   2. add_subdirectory(<this source tree>)
#   3. FetchContent: from this git checkout (GIT_REPOSITORY <path>, GIT_TAG <HEAD commit>) when the
#      work tree is clean, else from the source tree itself (SOURCE_DIR); both work offline
# Each one configures, builds and runs the consumer, then builds its target consumer_without_train
# (a trainer header with only invar::invar linked) and expects that to fail with the #error that
# names invar::train. Temporary directories are removed on exit.
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
  # A trainer header with only invar::invar: the build must fail, and say which target is missing.
  local log="$build/without_train.log"
  if cmake --build "$build" --target consumer_without_train >"$log" 2>&1; then
    echo "check-consumer: $name: <invar/train/trainer.hpp> compiled with only invar::invar linked;" \
         "expected the #error naming invar::train" >&2
    exit 1
  fi
  if ! grep -q 'is part of the component invar::train: find_package(invar COMPONENTS train)' "$log"; then
    echo "check-consumer: $name: consumer_without_train failed, but not with the message naming invar::train:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  echo "==> check-consumer: $name: without invar::train the trainer header fails as it should:"
  grep -m1 -o '#error "invar: .*' "$log" || true
  echo "==> check-consumer: $name passed in $((SECONDS - t0)) s"
}

# 1. A fresh build (the library's targets and the command-line tools), installed into a temporary
#    prefix, then find_package.
t0=$SECONDS
echo "==> check-consumer: cmake --install into $tmp/prefix"
cmake -S "$root" -B "$tmp/invar-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$tmp/prefix" -DINVAR_INSTALL=ON -DINVAR_BUILD_APPS=ON -DINVAR_BUILD_TESTS=OFF \
  -DINVAR_BUILD_EXAMPLES=OFF -DINVAR_BUILD_BENCHMARKS=OFF -DINVAR_CUDA=OFF
cmake --build "$tmp/invar-build" -j "$jobs"
cmake --install "$tmp/invar-build"
for f in include/invar/invar.hpp include/invar/train/trainer.hpp share/cmake/invar/invarConfig.cmake \
         share/cmake/invar/invarConfigVersion.cmake share/cmake/invar/invarTargets.cmake \
         share/cmake/invar/invarTrainTargets.cmake share/cmake/invar/invarReportTargets.cmake \
         share/cmake/invar/invarStb.cmake bin/invar-train bin/invar-report; do
  [[ -e "$tmp/prefix/$f" ]] || { echo "check-consumer: install is missing $f" >&2; exit 1; }
done
echo "==> check-consumer: install took $((SECONDS - t0)) s"

# The installed tools run from the prefix and say which invar they are.
version=$(sed -n 's/^project(invar VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
out=$("$tmp/prefix/bin/invar-train" --version)
echo "$out"
[[ "$out" == *"$version"* ]] || { echo "check-consumer: invar-train --version does not name version $version" >&2; exit 1; }
"$tmp/prefix/bin/invar-report" --help >/dev/null

# The package config: every component loads when asked for, and one that does not exist (or is
# not installed) fails find_package with a message naming it.
components="$tmp/components"
mkdir -p "$components"
cat >"$components/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.21)
project(invar_components LANGUAGES CXX)
find_package(invar CONFIG REQUIRED COMPONENTS ${WANT})
foreach(t IN ITEMS invar::invar ${EXPECT})
  if(NOT TARGET ${t})
    message(FATAL_ERROR "components: ${t} missing after find_package(invar COMPONENTS ${WANT})")
  endif()
endforeach()
if(TARGET invar::train AND NOT "train" IN_LIST WANT)
  message(FATAL_ERROR "components: invar::train loaded without being asked for")
endif()
CMAKE
cmake -S "$components" -B "$components/ok" "${generator[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "-DWANT=train;report" "-DEXPECT=invar::train;invar::report" >/dev/null
cmake -S "$components" -B "$components/none" "${generator[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DWANT= -DEXPECT= >/dev/null
if cmake -S "$components" -B "$components/bad" "${generator[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "-DWANT=train;plots" -DEXPECT= >"$components/bad.log" 2>&1; then
  echo "check-consumer: find_package(invar COMPONENTS train plots) succeeded; expected a failure" >&2
  exit 1
fi
grep -q 'invar::plots: no such component' "$components/bad.log" || {
  echo "check-consumer: find_package(invar COMPONENTS plots) failed without naming the component:" >&2
  cat "$components/bad.log" >&2
  exit 1
}
echo "==> check-consumer: find_package(invar COMPONENTS train report) loads both; a missing component is named"
if command -v mpicxx >/dev/null 2>&1; then  # invar was installed with invar::mpi where MPI is there
  cmake -S "$components" -B "$components/mpi" "${generator[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "-DWANT=mpi" "-DEXPECT=invar::mpi" >/dev/null
  echo "==> check-consumer: find_package(invar COMPONENTS mpi) loads invar::mpi"
fi

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
