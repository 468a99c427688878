#!/usr/bin/env bash
# Crossbar MVM throughput vs a plain float sgemm (bench/bench_crossbar.cpp), as a markdown table
# of medians over repetitions. Optional: --aihwkit also runs the side-by-side with IBM aihwkit
# (needs scripts/setup_aihwkit.sh first).
#   BUILD_DIR    build folder with acim_bench_crossbar (default build/release)
#   REPS         repetitions per benchmark (default 5)
#   ACIM_BENCH_THREADS  threads (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
REPS=${REPS:-5}
BIN=$BUILD_DIR/bench/acim_bench_crossbar
if [ ! -x "$BIN" ]; then
  echo "bench_crossbar: $BIN not found; build it with" >&2
  echo "  cmake -S . -B $BUILD_DIR -DACIM_BUILD_BENCHMARKS=ON && cmake --build $BUILD_DIR --target acim_bench_crossbar" >&2
  exit 1
fi
export ACIM_BENCH_THREADS=${ACIM_BENCH_THREADS:-1}
OUT=$(mktemp /tmp/bench_crossbar.XXXXXX.json)
trap 'rm -f "$OUT"' EXIT
# Each benchmark's repetitions run back to back; every MVM benchmark also times the sgemm of its
# weights right after its own loop (the "mvm / sgemm W" column: median of those in-run ratios,
# robust to the machine's load changing between benchmarks). The other ratios are of medians.
"$BIN" --benchmark_repetitions="$REPS" --benchmark_min_time=0.2 \
  --benchmark_out="$OUT" --benchmark_out_format=json ${BENCH_ARGS:-} > /dev/null 2>&1
python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['context']; \
print(f\"machine: {c['num_cpus']} CPUs at {c['mhz_per_cpu']} MHz, load {c.get('load_avg')}\")" "$OUT"
python3 - "$OUT" <<'PY'
import json, statistics, sys
runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("run_type") == "iteration"]
by = {}
for b in runs:
    name = b["run_name"] if "run_name" in b else b["name"]
    by.setdefault(name, []).append(b)
def med(name, key):
    v = [b[key] for b in by.get(name, [])]
    return statistics.median(v) if v else float("nan")
print(f"threads: {__import__('os').environ.get('ACIM_BENCH_THREADS')}, medians of the repetitions; "
      "W = the N x N weights, G = the array's N x 2N cells (differential pairs)\n")
print("| config | weights | batch | mvm µs | samples/s | sgemm W µs | mvm / sgemm W | "
      "mvm / sgemm G | mvm / mvm off |")
print("|---|---|---|---|---|---|---|---|---|")
for cfg in ["off", "rram", "rram_noadc", "rram_adc_noise", "pcm"]:
    for n in (256, 1024):
        for batch in (1, 256):
            sfx = f"/n:{n}/batch:{batch}/real_time"
            m = f"mvm_{cfg}{sfx}"
            if m not in by:
                continue
            t = med(m, "real_time")
            tw = med("sgemm" + sfx, "real_time")
            tg = med("sgemm_phys" + sfx, "real_time")
            toff = med("mvm_off" + sfx, "real_time")
            print(f"| {cfg} | {n}x{n} | {batch} | {t:.1f} | {med(m, 'items_per_second'):.4g} | "
                  f"{tw:.1f} | {med(m, 'ratio'):.2f} | {t / tg:.2f} | {t / toff:.2f} |")
PY
if [ "${1:-}" = "--aihwkit" ]; then
  if [ ! -x .venv-aihwkit/bin/python ]; then
    echo "bench_crossbar: .venv-aihwkit missing; run scripts/setup_aihwkit.sh" >&2
    exit 1
  fi
  .venv-aihwkit/bin/python bench/bench_vs_aihwkit.py --acim-bench "$BIN" --reps "$REPS"
fi
