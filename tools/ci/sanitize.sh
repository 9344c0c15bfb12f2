#!/usr/bin/env bash
# Sanitizer builds of duet (issue 11; docs/reliability.md).
#   tools/ci/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer
#                               (build-asan/): every unit test, leak checks on,
#                               the CUDA plumbing on the stand-in runtime,
#                               each fuzz harness over its seeds and
#                               regressions (fuzz.replay.*), 100 duet-difftest
#                               programs, and duet-dump's end-to-end test with
#                               its bad inputs. .ci/run runs this after the
#                               tests.
#   tools/ci/sanitize.sh tsan   ThreadSanitizer (build-tsan/, OpenMP off: the
#                               OpenMP runtime is not TSan-instrumented): the
#                               concurrency tests (function cache, kernel
#                               cache and its bounds, variables, threads,
#                               CUDA ops from threads on the stand-in runtime).
#                               .ci/run runs this after asan.
# Any sanitizer report fails the run (halt_on_error); the exit status says.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=${1:-asan}
case "$kind" in
  asan)
    dir=build-asan
    # Every harness of tools/fuzz, as fuzz.replay.* runs it (replay_main.cpp):
    # one per seed folder (tools/fuzz/seeds/NAME), not per fuzz_*.cpp, since
    # a harness may span several sources (fuzz_ops.cpp + fuzz_ops_calls.cpp).
    fuzzers=()
    for d in tools/fuzz/seeds/*/; do n=${d%/}; fuzzers+=("${n##*/}"); done
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_SANITIZE=address,undefined > /dev/null
    echo "==> building with ASan+UBSan ($dir/)"
    cmake --build "$dir" --target duet_tests duet-dump duet-opt duet-difftest "${fuzzers[@]/#/fuzz_}"
    # allocator_may_return_null: an allocation past what the machine has is the
    # OutOfMemoryError the [oom] tests check, as without ASan, not an abort.
    export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    export DUET_CACHE_DIR="$PWD/$dir/kernel-cache"
    # All but the soak test, which measures RSS: under ASan freed memory sits
    # in the sanitizer's quarantine, so RSS says nothing (the plain ctest run
    # checks it).
    echo "==> unit tests under ASan+UBSan (all but [soak])"
    "$dir/tests/duet_tests" "~[soak]~[.]"
    # The hidden cases that need what a machine may lack (NOTE [Skips that
    # show] in tests/unit/main.cpp); exit 77 is "SKIPPED: why".
    for need in cuda_backend no_cuda_device; do
      echo "==> [$need] under ASan+UBSan"
      rc=0
      "$dir/tests/duet_tests" "[$need]" --warn NoTests || rc=$?
      [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || exit "$rc"
    done
    if [ -f "$dir/tests/libduet_fake_cudart.so" ]; then
      echo "==> the CUDA backend on the stand-in CUDA runtime under ASan+UBSan"
      DUET_CUDART="$PWD/$dir/tests/libduet_fake_cudart.so" DUET_FAKE_CUDA_MEMORY_MB=256 \
        LSAN_OPTIONS="suppressions=$PWD/tools/ci/lsan-cuda.supp" \
        "$dir/tests/duet_tests" "[fake_cuda]" --warn NoTests
    fi
    # Most recorded fuzz findings are integer overflows, which only UBSan
    # reliably catches (docs/reliability.md): the regressions run here too.
    echo "==> the fuzz harnesses over their seeds and regressions under ASan+UBSan (fuzz.replay.*)"
    for name in "${fuzzers[@]}"; do
      inputs=(tools/fuzz/seeds/"$name")
      if [ -d tools/fuzz/regressions/"$name" ]; then inputs+=(tools/fuzz/regressions/"$name"); fi
      log=$dir/fuzz-replay-$name.log
      # As under libFuzzer (tools/fuzz/run): one allocation over 2 GiB is a
      # finding, never an OutOfMemoryError the harness would take for an answer.
      if ! ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:max_allocation_size_mb=2048 \
          "$dir/tools/fuzz/fuzz_$name" "${inputs[@]}" > "$log" 2>&1; then
        tail -n 60 "$log"
        echo "==> fuzz_$name failed under ASan+UBSan: the input in flight is the last file named above (log: $log)" >&2
        exit 1
      fi
      echo "    fuzz_$name: $(tail -n 1 "$log") (${inputs[*]})"
    done
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
    # oneDNN (Debian's) runs its primitives on libgomp's team, which TSan
    # cannot see synchronize: one OpenMP thread, so every report is about
    # duet's own threads (a oneDNN memset then a read after its barrier was
    # reported otherwise, in [passes]).
    export OMP_NUM_THREADS=1
    # oneDNN runs its primitives on an OpenMP team of its own even with
    # DUET_OPENMP=OFF; libgomp's barriers are invisible to TSan, so a buffer
    # a oneDNN thread wrote and the caller later reads was reported as a race
    # (docs/reliability.md). One thread: every kernel runs on its caller.
    export OMP_NUM_THREADS=1
    export DUET_CACHE_DIR="$PWD/$dir/kernel-cache"
    tags="[function],[kernel_cache],[bounds],[codegen],[donation],[threads],[passes],[softmax],[fused_matmul],[saved]"
    echo "==> concurrency tests under TSan: $("$dir/tests/duet_tests" "$tags" --list-test-names-only | grep -c .) test cases of $tags"
    "$dir/tests/duet_tests" "$tags"
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
