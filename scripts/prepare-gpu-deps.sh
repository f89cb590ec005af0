#!/usr/bin/env bash
# Fills gpu-deps/ (ignored by git) with what scripts/gpu-check.sh's build needs on a GPU machine
# that has nvcc, CMake, ninja and Python with PyTorch but none of Debian's -dev packages and no
# network. Run it HERE, on the Debian 12 machine (x86-64), from anywhere:
#   bash scripts/prepare-gpu-deps.sh [DEST]          # DEST defaults to <repo>/gpu-deps
# Then carry the folder with the device tool's `run` (carry: ["gpu-deps"]); gpu-check.sh finds it.
#
# What it copies (a relocatable prefix; every CMake file finds its files relative to itself):
#   include/eigen3/Eigen, share/eigen3/cmake     Eigen 3.4 (libeigen3-dev), without unsupported/
#   include/doctest, lib/cmake/doctest           doctest (doctest-dev); Debian's doctestTargets.cmake
#                                                hard-codes /usr, so doctestConfig.cmake is written here
#   include/benchmark, lib/<multiarch>/          Google Benchmark (libbenchmark-dev: a shared library,
#     libbenchmark.so.*, .../cmake/benchmark     its real file and its SONAME name, and the CMake config)
#   include/zlib.h, zconf.h, lib/<multiarch>/    zlib (zlib1g-dev), as libz.so and libz.so.1 (real files)
#     libz.so, libz.so.1
# Not copied: tinyxml2 (gpu-check.sh configures with INVAR_TESTS_CUDA_ONLY=ON, so the CPU test suite
# that needs it is not configured), CLI11 / nlohmann-json / stb (INVAR_BUILD_APPS=OFF,
# INVAR_BUILD_EXAMPLES=OFF). Symbolic links are copied as files (a carried link can break).
# The device tool carries at most 64 MiB (working tree + carried paths): the script fails above
# 48 MiB for this folder. It prints the size and writes MANIFEST.txt (package versions, files).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/gpu-deps}"
limit_bytes=$((48 << 20))

die() { echo "prepare-gpu-deps: $*" >&2; exit 1; }

[[ "$(uname -m)" == x86_64 ]] || die "this machine is $(uname -m); the GPU machine is x86-64, so its libraries must come from an x86-64 Debian"
command -v dpkg-query >/dev/null || die "dpkg-query not found: run this on the Debian machine"
multiarch="$(gcc -print-multiarch 2>/dev/null || true)"
[[ -n "$multiarch" ]] || multiarch=x86_64-linux-gnu

packages=(libeigen3-dev doctest-dev libbenchmark-dev zlib1g-dev)
missing=()
for p in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || missing+=("$p")
done
((${#missing[@]} == 0)) || die "missing Debian packages: ${missing[*]} (bash scripts/install-deps.sh installs them)"

# The first file a package installs whose path matches a pattern (dpkg -L, so no path is guessed).
pkg_file() {  # pkg_file <package> <grep -E pattern>
  local f
  f="$(dpkg -L "$1" | grep -E "$2" | head -n 1 || true)"
  [[ -n "$f" && -e "$f" ]] || die "$1 has no file matching '$2'"
  echo "$f"
}

rm -rf "$dest"
mkdir -p "$dest/include" "$dest/lib/$multiarch/cmake" "$dest/lib/cmake/doctest" "$dest/share/eigen3/cmake"

# Eigen 3.4: the headers invar includes (Eigen/), not unsupported/ (nothing in invar uses it).
eigen_sig="$(pkg_file libeigen3-dev '/eigen3/signature_of_eigen3_matrix_library$')"
eigen_inc="$(dirname "$eigen_sig")"
mkdir -p "$dest/include/eigen3"
cp -rL "$eigen_inc/Eigen" "$eigen_sig" "$dest/include/eigen3/"
eigen_cmake="$(dirname "$(pkg_file libeigen3-dev '/Eigen3Config\.cmake$')")"
for f in Eigen3Config.cmake Eigen3ConfigVersion.cmake Eigen3Targets.cmake; do
  cp -L "$eigen_cmake/$f" "$dest/share/eigen3/cmake/"
done
# shellcheck disable=SC2016  # the literal CMake text
grep -q 'PACKAGE_PREFIX_DIR "${CMAKE_CURRENT_LIST_DIR}/../../../"' "$dest/share/eigen3/cmake/Eigen3Config.cmake" ||
  die "Eigen3Config.cmake is not relative to its folder as expected; check it by hand"

# doctest: the header, and a relocatable config (Debian's targets file says _IMPORT_PREFIX "/usr").
mkdir -p "$dest/include/doctest"
cp -L "$(pkg_file doctest-dev '/doctest/doctest\.h$')" "$dest/include/doctest/"
doctest_cmake="$(dirname "$(pkg_file doctest-dev '/doctestConfig\.cmake$')")"
for f in doctestConfigVersion.cmake doctest.cmake doctestAddTests.cmake; do
  [[ -e "$doctest_cmake/$f" ]] && cp -L "$doctest_cmake/$f" "$dest/lib/cmake/doctest/"
done
cat >"$dest/lib/cmake/doctest/doctestConfig.cmake" <<'EOF'
# doctest (header-only) from Debian's doctest-dev, relocated by scripts/prepare-gpu-deps.sh: the
# include directory is found relative to this file (Debian's doctestTargets.cmake hard-codes /usr).
get_filename_component(_invar_doctest_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET doctest::doctest)
  add_library(doctest::doctest INTERFACE IMPORTED)
  set_target_properties(doctest::doctest PROPERTIES INTERFACE_COMPILE_FEATURES "cxx_std_11"
                                                    INTERFACE_INCLUDE_DIRECTORIES "${_invar_doctest_prefix}/include")
endif()
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")
unset(_invar_doctest_prefix)
EOF

# Google Benchmark: headers, the shared library (real file + SONAME name) and its CMake config,
# whose targets file finds the library four folders up from itself (lib/<multiarch>/cmake/benchmark).
cp -rL "$(dirname "$(pkg_file libbenchmark-dev '/benchmark/benchmark\.h$')")" "$dest/include/"
bench_cmake="$(dirname "$(pkg_file libbenchmark-dev '/cmake/benchmark/benchmarkConfig\.cmake$')")"
[[ "$bench_cmake" == */lib/$multiarch/cmake/benchmark ]] || die "unexpected benchmark config folder $bench_cmake"
cp -rL "$bench_cmake" "$dest/lib/$multiarch/cmake/"
bench_so="$(readlink -f "$(pkg_file libbenchmark-dev '/libbenchmark\.so$')")"
cp -L "$bench_so" "$dest/lib/$multiarch/"
bench_soname="$(objdump -p "$bench_so" | awk '/SONAME/ {print $2}')"
[[ -n "$bench_soname" && "$bench_soname" != "$(basename "$bench_so")" ]] && cp -L "$bench_so" "$dest/lib/$multiarch/$bench_soname"
cp -L "$(pkg_file libbenchmark-dev '/libbenchmark_main\.a$')" "$dest/lib/$multiarch/"  # the config checks it exists
# Its targets file must name exactly the library copied above.
grep -q "$(basename "$bench_so")" "$dest/lib/$multiarch/cmake/benchmark/"benchmarkTargets-*.cmake ||
  die "benchmarkTargets-*.cmake does not name $(basename "$bench_so")"

# zlib: headers, and the shared library under its link name and its SONAME (real files).
cp -L "$(pkg_file zlib1g-dev '/zlib\.h$')" "$(pkg_file zlib1g-dev '/zconf\.h$')" "$dest/include/"
z_so="$(readlink -f "$(pkg_file zlib1g-dev '/libz\.so$')")"
cp -L "$z_so" "$dest/lib/$multiarch/libz.so"
z_soname="$(objdump -p "$z_so" | awk '/SONAME/ {print $2}')"
cp -L "$z_so" "$dest/lib/$multiarch/${z_soname:-libz.so.1}"

# No link may remain (a carried link can point outside the folder).
if find "$dest" -type l | grep -q .; then die "symbolic links left in $dest"; fi

{
  echo "gpu-deps: made by scripts/prepare-gpu-deps.sh on $(date -u +%FT%TZ) ($(grep -m1 '^PRETTY_NAME=' /etc/os-release | cut -d= -f2 | tr -d '"'), $multiarch)"
  echo "packages:"
  for p in "${packages[@]}"; do echo "  $p $(dpkg-query -W -f='${Version}' "$p")"; done
  echo "glibc symbols the libraries need (the GPU machine's glibc must be at least this):"
  for f in "$dest/lib/$multiarch"/*.so*; do
    echo "  $(basename "$f"): $(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)"
  done
  echo "files:"
  (cd "$dest" && find . -type f ! -path './include/eigen3/Eigen/*' | sort | sed 's/^/  /')
  echo "  ./include/eigen3/Eigen/... ($(find "$dest/include/eigen3/Eigen" -type f | wc -l) files)"
} >"$dest/MANIFEST.txt"

bytes="$(du -sb "$dest" | cut -f1)"
files="$(find "$dest" -type f | wc -l)"
echo "prepare-gpu-deps: $dest: $files files, $((bytes / 1024)) KiB"
((bytes <= limit_bytes)) || die "$dest is $bytes bytes, over $limit_bytes: it would not fit the device tool's 64 MiB with the working tree"
echo "prepare-gpu-deps: carry it with the device tool: run(command: 'bash scripts/gpu-check.sh', carry: [\"gpu-deps\"])"
