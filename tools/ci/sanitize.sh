#!/usr/bin/env bash
# Sanitizer builds of duet (issue 11; docs/reliability.md).
#   tools/ci/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer
#                               (build-asan/): every unit test, leak checks on,
#                               the CUDA plumbing on the stand-in runtime,
#                               100 duet-difftest programs, and duet-dump's
#                               end-to-end test with its bad inputs. .ci/run
#                               runs this after the tests.
#   tools/ci/sanitize.sh tsan   ThreadSanitizer (build-tsan/, OpenMP off: the
#                               OpenMP runtime is not TSan-instrumented): the
#                               concurrency tests (function cache, kernel
#                               cache and its bounds, variables, threads,
#                               CUDA ops from threads on the stand-in runtime).
#                               Run by hand.
# Any sanitizer report fails the run (halt_on_error); the exit status says.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=${1:-asan}
case "$kind" in
  asan)
    dir=build-asan
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_SANITIZE=address,undefined > /dev/null
    echo "==> building with ASan+UBSan ($dir/)"
    cmake --build "$dir" --target duet_tests duet-dump duet-opt duet-difftest
    export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    export DUET_CACHE_DIR="$PWD/$dir/kernel-cache"
    # All but the soak test, which measures RSS: under ASan freed memory sits
    # in the sanitizer's quarantine, so RSS says nothing (the plain ctest run
    # checks it).
    echo "==> unit tests under ASan+UBSan (all but [soak])"
    "$dir/tests/duet_tests" "~[soak]~[.]"
    if [ -f "$dir/tests/libduet_fake_cudart.so" ]; then
      echo "==> the CUDA backend on the stand-in CUDA runtime under ASan+UBSan"
      DUET_CUDART="$PWD/$dir/tests/libduet_fake_cudart.so" DUET_FAKE_CUDA_MEMORY_MB=256 \
        LSAN_OPTIONS="suppressions=$PWD/tools/ci/lsan-cuda.supp" \
        "$dir/tests/duet_tests" "[fake_cuda]" --warn NoTests
    fi
    echo "==> 100 duet-difftest programs under ASan+UBSan"
    "$dir/tools/duet-difftest/duet-difftest" --count 100 --seed 1000001
    echo "==> duet-dump end to end under ASan+UBSan (bad inputs included)"
    python3 tests/tools/dump_test.py "$dir/tools/duet-dump/duet-dump" "$dir/tools/duet-opt/duet-opt" "$dir/dump-test"
    ;;
  tsan)
    dir=build-tsan
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_SANITIZE=thread -DDUET_OPENMP=OFF > /dev/null
    echo "==> building with TSan ($dir/, OpenMP off)"
    cmake --build "$dir" --target duet_tests
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    export DUET_CACHE_DIR="$PWD/$dir/kernel-cache"
    echo "==> concurrency tests under TSan"
    "$dir/tests/duet_tests" "[function],[kernel_cache],[bounds],[codegen],[donation],[threads],[passes],[softmax],[fused_matmul],[saved]"
    if [ -f "$dir/tests/libduet_fake_cudart.so" ]; then
      echo "==> the CUDA backend's threads on the stand-in CUDA runtime under TSan"
      DUET_CUDART="$PWD/$dir/tests/libduet_fake_cudart.so" \
        "$dir/tests/duet_tests" "fake cuda: threads*" --warn NoTests
    fi
    ;;
  *)
    echo "usage: $0 asan|tsan" >&2
    exit 2
    ;;
esac
echo "==> $kind: clean"
