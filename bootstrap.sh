#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running duet:
#   ./bootstrap.sh demo   installs what is missing, builds, runs the main demo
#   ./bootstrap.sh test   installs what is missing, builds, runs every test
# Debian packages are installed by name with apt-get (through sudo when not
# root), and only when missing. The list is DESIGN.md §3's.
set -euo pipefail
mode=${1:-demo}
case "$mode" in demo|test) ;; *) echo "usage: $0 [demo|test]" >&2; exit 2 ;; esac
cd "$(dirname "$0")"

packages=(
  g++ cmake ninja-build python3 zlib1g-dev pkg-config   # toolchain
  llvm-16-dev libzstd-dev llvm-16-tools                 # JIT, FileCheck and lit
  libdnnl-dev ocl-icd-opencl-dev                        # oneDNN kernels (its CMake config wants OpenCL)
  catch2 libfmt-dev nlohmann-json3-dev                  # tests, formatting, JSON
  dataset-fashion-mnist                                 # the real data set
  graphviz                                              # graph dumps as pictures
  clang-16 libclang-rt-16-dev                           # fuzzers and sanitizers
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing missing Debian packages: ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

echo "==> configuring and building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build

if [ "$mode" = demo ]; then
  echo "==> running the demo"
  ./build/examples/fashion_mnist
else
  echo "==> running every test"
  ctest --test-dir build --output-on-failure -j 2
fi
