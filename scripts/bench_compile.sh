#!/usr/bin/env bash
# Compile time against the issue's goals: a ResNet-50 (25.5 M weights) on the 64-core hermes
# chip in < 1 s, a 124 M-weight GPT-2 across stacked chips in < 5 s. Generates the two models
# (scripts/make_compile_models.py, random weights, ~600 MB, outside the repository) unless they
# are there, then prints a markdown table of medians:
#   - `acim compile MODEL --chip hermes --chips auto` end to end (process wall time);
#   - bench/acim_bench_compile's in-process split: import, passes, mapping (map_graph, with the
#     placement and the schedule) and, with --program, compile_program (quantisation and its
#     calibration runs included).
# Options:
#   --tiny        2-block models (seconds, < 1 MB): a smoke test of the same path
#   --runs N      runs per measurement (default 5)
#   --program     also time compile_program (slow: 8 calibration inferences per run)
#   --models DIR  where the models are (default /tmp/acim_compile_models[_tiny])
# Exit status 77 when PYTHON lacks onnx/numpy (a CTest skip).
# Environment: BUILD_DIR (default build/release) holds bin/acim and bench/acim_bench_compile;
# PYTHON (default .venv/bin/python) has onnx and numpy; THREADS (default 1) CPU threads for the
# calibration runs (acim --threads): on a shared machine more threads spin-wait on each other.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
PYTHON=${PYTHON:-.venv/bin/python}
THREADS=${THREADS:-1}
RUNS=5
TINY=""
PROGRAM=""
MODELS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) TINY="--tiny" ;;
    --runs) RUNS="$2"; shift ;;
    --program) PROGRAM="--program" ;;
    --models) MODELS="$2"; shift ;;
    *) echo "bench_compile: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
MODELS=${MODELS:-/tmp/acim_compile_models${TINY:+_tiny}}
for bin in "$BUILD_DIR/bin/acim" "$BUILD_DIR/bench/acim_bench_compile"; do
  if [ ! -x "$bin" ]; then
    echo "bench_compile: $bin not found; build it with" >&2
    echo "  cmake -S . -B $BUILD_DIR -DACIM_BUILD_BENCHMARKS=ON && cmake --build $BUILD_DIR --target acim_cli acim_bench_compile" >&2
    exit 1
  fi
done
if ! "$PYTHON" -c "import onnx, numpy" 2>/dev/null; then
  echo "bench_compile: $PYTHON cannot import onnx and numpy (scripts/setup.sh makes .venv); skipped" >&2
  exit 77  # CTest's SKIP_RETURN_CODE
fi
if [ ! -f "$MODELS/resnet50.onnx" ] || [ ! -f "$MODELS/gpt2.onnx" ] || [ ! -f "$MODELS/gpt2_ids.npy" ]; then
  "$PYTHON" scripts/make_compile_models.py "$MODELS" $TINY >&2
fi
python3 - "$BUILD_DIR" "$MODELS" "$RUNS" "$PROGRAM" "$THREADS" <<'PY'
import json, os, statistics, subprocess, sys, time
build, models, runs, program, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
acim = os.path.join(build, "bin", "acim")
harness = os.path.join(build, "bench", "acim_bench_compile")
print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; threads {threads}; median "
      f"of {runs} runs; chip hermes (64 cores, 256x256 weights per array), --chips auto\n")
cols = ["model", "weights", "chips", "arrays", "acim compile s", "import+passes+map s", "import s",
        "passes s", "map s"]
if program:
    cols.append("compile_program s")
cols += ["placement", "byte-hops / row-major", "latency / interval cycles"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for name in ("resnet50", "gpt2"):
    path = os.path.join(models, name + ".onnx")
    cmd = [acim, "--threads", threads, "compile", path, "--chip", "hermes", "--chips", "auto"]
    if name == "gpt2":  # token ids: random calibration inputs are float only
        cmd += ["--calibrate", os.path.join(models, "gpt2_ids.npy")]
    wall = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall.append(time.perf_counter() - t0)
        if r.returncode != 0:
            sys.exit(f"bench_compile: {' '.join(cmd)} failed:\n{r.stderr}")
    args = [harness, path, "--chip", "hermes", "--chips", "auto", "--runs", str(runs),
            "--threads", threads]
    j = json.loads(subprocess.run(args + ([program] if program else []), check=True,
                                  capture_output=True, text=True).stdout)
    row = [name, f"{j['weights'] / 1e6:.2f} M", str(j["chips"]), str(j["arrays_used"]),
           f"{statistics.median(wall):.3f}",
           f"{j['import_s'] + j['passes_s'] + j['map_s']:.3f}", f"{j['import_s']:.3f}",
           f"{j['passes_s']:.4f}",
           f"{j['map_s']:.4f}"]
    if program:
        row.append(f"{j['program_s']:.2f}")
    ratio = j["noc_byte_hops"] / j["noc_byte_hops_row_major"] if j["noc_byte_hops_row_major"] else 1
    row += [j["placement"], f"{ratio:.3f}", f"{j['latency_cycles']} / {j['interval_cycles']}"]
    print("| " + " | ".join(row) + " |")
PY
