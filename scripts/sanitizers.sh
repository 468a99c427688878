#!/usr/bin/env bash
# The sanitizer tier: three builds beside the release one, each from its CMake preset. CI runs it
# after `make test` (.ci/run, with --fuzz-seconds 30); from a clean clone it takes about 16
# minutes on an idle 2-core machine (measured: docs/RELIABILITY.md).
#   asan   GCC, AddressSanitizer + UndefinedBehaviorSanitizer: the whole test suite
#          (`make test PRESET=asan`), AVX-512 kernels included; built at -O1 -g1 (the preset),
#          which compiles in half the time of -O2 -g and keeps file:line in the reports.
#   tsan   Clang, ThreadSanitizer with LLVM's OpenMP runtime and its Archer tool (which tells
#          ThreadSanitizer about OpenMP's barriers and tasks): the unit tests of everything that
#          runs on several threads, with 2 and 4 threads.
#   fuzz   Clang, libFuzzer + ASan + UBSan: every harness in fuzz/ for a bounded time
#          (scripts/fuzz.sh --seconds N).
# Options:
#   --only LIST       comma-separated subset of asan,tsan,fuzz (default: all three)
#   --fuzz-seconds N  time per fuzz harness (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
ONLY=asan,tsan,fuzz
FUZZ_SECONDS=30
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY="$2"; shift ;;
    --fuzz-seconds) FUZZ_SECONDS="$2"; shift ;;
    *) echo "sanitizers: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }
JOBS=$(nproc)
scripts/setup.sh  # clang, libclang-rt-14-dev (TSan, libFuzzer), libomp-14-dev (Archer): idempotent
stamp() { echo "sanitizers: $1 ($(date +%T))"; }

if want asan; then
  stamp "asan: build and run every test"
  make test PRESET=asan
fi

if want tsan; then
  stamp "tsan: build the unit tests"
  ARCHER=/usr/lib/llvm-14/lib/libarcher.so  # from libomp-14-dev; without it TSan misreads barriers
  [ -f "$ARCHER" ] ||
    { echo "sanitizers: $ARCHER is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  [ -f build/tsan/CMakeCache.txt ] || cmake --preset tsan -G Ninja > /dev/null
  cmake --build build/tsan -j"$JOBS" --target acim_unit_tests > build/tsan.log 2>&1 ||
    { tail -30 build/tsan.log; exit 1; }
  # The threaded parts: kernels split across OpenMP threads, the simulator, the compiler's
  # calibration runs, evaluation over chip instances.
  FILTER='Ops*:Elementwise*:Activation*:Reduce*:Rnn*:Lstm*:Gru*:VMath*:Sim*:Crossbar*:Adc*:Dac*:Periphery*:Rng*:Quanti*:EvalTest*:Mfcc*:Kws*'
  for threads in 2 4; do
    stamp "tsan: unit tests with $threads threads"
    OMP_NUM_THREADS=$threads OMP_TOOL_LIBRARIES=$ARCHER \
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1" \
      build/tsan/tests/acim_unit_tests --gtest_filter="$FILTER" --gtest_brief=1
  done
fi

if want fuzz; then
  stamp "fuzz: $FUZZ_SECONDS s per harness"
  scripts/fuzz.sh --seconds "$FUZZ_SECONDS" --jobs "$JOBS"
fi
stamp "done"
