#!/usr/bin/env bash
# Fuzzes acim's readers of user files with libFuzzer (Clang, ASan + UBSan: the `fuzz` preset):
# one harness per format in fuzz/ (fuzz_onnx, fuzz_chip_spec, fuzz_program, and fuzz_wav /
# fuzz_sweep where present). Seed corpora come from the project's own files (the zoo's models,
# the chip presets and test specs, Programs compiled from the zoo, the bundled WAVs and sweep
# files); each harness then runs for a bounded time. Prints a markdown table (executions,
# corpus, findings) and exits 1 if any harness found a crash, a leak, a timeout or an
# out-of-memory; the reproducer is left in build/fuzz/artifacts/ (make it a regression test in
# tests/unit/test_fuzz_regressions.cpp).
# Options:
#   --seconds N      time per harness (default 60)
#   --only LIST      comma-separated harness names (default: every fuzz_* built)
#   --jobs N         parallel build jobs (default: number of cores)
# The corpora grow in build/fuzz/corpus/<harness>/ between runs (a longer local run:
# scripts/fuzz.sh --seconds 3600).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=60
ONLY=""
JOBS=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --jobs) JOBS="$2"; shift ;;
    *) echo "fuzz: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
BUILD=build/fuzz
[ -f "$BUILD/CMakeCache.txt" ] || cmake --preset fuzz -G Ninja > /dev/null
cmake --build "$BUILD" -j"$JOBS" > "$BUILD.log" 2>&1 || { tail -30 "$BUILD.log"; exit 1; }

harnesses=()
for h in "$BUILD"/fuzz/fuzz_*; do
  name=$(basename "$h")
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
  harnesses+=("$name")
done
[ ${#harnesses[@]} -gt 0 ] || { echo "fuzz: no harness built in $BUILD/fuzz" >&2; exit 1; }

# Seed corpora (copies, so that libFuzzer may add to the folder without touching the sources).
seed() {  # seed HARNESS FILE...
  local dir="$BUILD/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$dir/seed_$(echo "$f" | tr '/' '_')"; done
  return 0
}
seed fuzz_onnx zoo/*/*.onnx
seed fuzz_chip_spec chips/*.toml tests/data/chips/*.toml bench/chips/*.toml
seed fuzz_wav examples/kws/*.wav
seed fuzz_sweep examples/sweeps/*.toml
if [[ " ${harnesses[*]} " == *" fuzz_program "* ]]; then
  mkdir -p "$BUILD/corpus/fuzz_program"
  for m in zoo/mlp/mlp_mnist.onnx zoo/kws/ds_cnn_s.onnx zoo/lstm/lstm_kws.onnx; do
    for chip in edge-voice hermes; do
      out="$BUILD/corpus/fuzz_program/seed_$(basename "$m" .onnx)_$chip.acim"
      [ -f "$out" ] || ASAN_OPTIONS=detect_leaks=0 "$BUILD/bin/acim" compile "$m" --chip "$chip" \
        --chips auto -o "$out" > /dev/null 2>&1 || echo "fuzz: no seed from $m on $chip" >&2
    done
  done
fi

mkdir -p "$BUILD/artifacts"
status=0
echo "| harness | seconds | executions | exec/s | corpus files | findings |"
echo "|---|---|---|---|---|---|"
for name in "${harnesses[@]}"; do
  log="$BUILD/$name.log"
  before=$(ls "$BUILD/artifacts" | grep -c "^$name-" || true)
  set +e
  "$BUILD/fuzz/$name" "$BUILD/corpus/$name" -max_total_time="$SECONDS_PER" -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$name-" \
    > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -m1 "^stat::number_of_executed_units" "$log" | awk '{print $2}')
  rate=$(grep -m1 "^stat::average_exec_per_sec" "$log" | awk '{print $2}')
  files=$(ls "$BUILD/corpus/$name" | wc -l)
  after=$(ls "$BUILD/artifacts" | grep -c "^$name-" || true)
  found=$((after - before))
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    status=1
    echo "fuzz: $name: exit $rc, see $log and $BUILD/artifacts/" >&2
    grep -m3 -E "ERROR|SUMMARY|deadly signal" "$log" >&2 || true
  fi
  echo "| $name | $SECONDS_PER | ${runs:-?} | ${rate:-?} | $files | $found |"
done
exit $status
