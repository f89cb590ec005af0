#!/usr/bin/env bash
# Installs the Debian packages invar's build, tests and examples need, and only those that are
# missing: nothing is downloaded when everything is already there.
#   bash scripts/install-deps.sh [extra-package ...]
# Works as root on a fresh Debian 12; as another user it uses sudo when sudo exists.
set -euo pipefail

# What needs what (CMakeLists.txt declares the same per target; README "Use invar in your project"):
packages=(
  cmake g++ ninja-build git
  libeigen3-dev          # invar::invar (the library): Eigen 3.4
  zlib1g-dev             # invar::invar: gzipped IDX files (Fashion-MNIST), checksums of parameter files
  nlohmann-json3-dev     # invar::train (the trainer's logs), and the command-line tools' configs
  libstb-dev             # invar::report: PNG writing (invar/io/png.hpp, the report's figures)
  libcli11-dev           # the command-line tools (invar-train, invar-report) and examples
  doctest-dev            # tests
  python3-numpy          # tests: numpy reads the safetensors export byte for byte (required in CI)
  libtinyxml2-dev        # tests: parsing the report's SVG figures
  libbenchmark-dev       # benchmarks
  libopenmpi-dev openmpi-bin  # invar::mpi and its tests (mpiexec): training across processes
  doxygen                # the API reference (the `docs` target)
  dataset-fashion-mnist  # the data: /usr/share/datasets/fashion-mnist
)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

as_root=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: not root and no sudo; install them as root, then rerun" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
