#!/usr/bin/env bash
# Analog inference of whole networks, acim vs IBM aihwkit (CPU), in one invocation: the zoo's
# DS-CNN-S, ResNet-20, MLP and LSTM at batch 1 and 256, with the same weights and the same noise
# configuration (PCM statistical model, 8-bit DAC/ADC, 512x512-weight arrays, global drift
# compensation at t = 1 h: bench/chips/aihwkit-pcm.toml and bench/bench_networks_vs_aihwkit.py
# map the two configurations onto each other). Prints two markdown tables: samples/s of acim
# float, acim analog and aihwkit with the ratios, and each simulator's output error against the
# float reference with whether they agree within statistical tolerance (so that the speed is for
# the same work). Everything runs on one thread.
# Options:
#   --tiny           MLP, LSTM and DS-CNN with digital depthwise layers at batch 1 and 8, 2 chip
#                    instances: a smoke test (~10 s)
#   --instances K    chip instances (seeds) per network: timings are medians over them, the error
#                    check's sample size (default 5)
#   --networks LIST  comma-separated subset of ds_cnn_s,ds_cnn_s_dw_digital,resnet20,mlp,lstm
#                    (ds_cnn_s_dw_digital: its depthwise layers on the digital side)
#   --strict         exit 3 when an error statistic disagrees
# Exit status 77 when .venv-aihwkit (scripts/setup_aihwkit.sh) or PYTHON's onnx/onnxruntime is
# missing (a CTest skip).
# Environment: BUILD_DIR (default build/release) holds bin/acim and bench/acim_bench_model;
# PYTHON (default .venv/bin/python) has onnx, onnxruntime and numpy (scripts/setup.sh);
# AIHWKIT_PYTHON (default .venv-aihwkit/bin/python) has torch and aihwkit; WORK (default a
# temporary folder, removed at the end) holds the exported weights, inputs and programs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
PYTHON=${PYTHON:-.venv/bin/python}
AIHWKIT_PYTHON=${AIHWKIT_PYTHON:-.venv-aihwkit/bin/python}
NETWORKS=ds_cnn_s,ds_cnn_s_dw_digital,resnet20,mlp,lstm
BATCHES=1,256
INSTANCES=5
STRICT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) NETWORKS=mlp,lstm,ds_cnn_s_dw_digital; BATCHES=1,8; INSTANCES=2 ;;
    --instances) INSTANCES="$2"; shift ;;
    --networks) NETWORKS="$2"; shift ;;
    --strict) STRICT="--require-agreement" ;;
    *) echo "bench_analog: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
for bin in "$BUILD_DIR/bin/acim" "$BUILD_DIR/bench/acim_bench_model" "$BUILD_DIR/bench/acim_gemm_peak"; do
  if [ ! -x "$bin" ]; then
    echo "bench_analog: $bin not found; build it with" >&2
    echo "  cmake -S . -B $BUILD_DIR -DACIM_BUILD_BENCHMARKS=ON && cmake --build $BUILD_DIR --target acim_cli acim_bench_model acim_gemm_peak" >&2
    exit 1
  fi
done
if ! "$AIHWKIT_PYTHON" -c "import aihwkit, torch, scipy" 2>/dev/null; then
  echo "bench_analog: $AIHWKIT_PYTHON cannot import aihwkit, torch and scipy (scripts/setup_aihwkit.sh makes .venv-aihwkit); skipped" >&2
  exit 77  # CTest's SKIP_RETURN_CODE
fi
if ! "$PYTHON" -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
  echo "bench_analog: $PYTHON cannot import onnx, onnxruntime and numpy (scripts/setup.sh makes .venv); skipped" >&2
  exit 77
fi
if [ -z "${WORK:-}" ]; then
  WORK=$(mktemp -d /tmp/bench_analog.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
"$PYTHON" bench/bench_networks_vs_aihwkit.py export --work "$WORK" --networks "$NETWORKS" \
  --batches "$BATCHES"
# aihwkit warns about its CUDA-less build on every import; the tables go to stdout.
"$AIHWKIT_PYTHON" -W ignore bench/bench_networks_vs_aihwkit.py run --work "$WORK" \
  --networks "$NETWORKS" --batches "$BATCHES" --instances "$INSTANCES" --build-dir "$BUILD_DIR" \
  $STRICT
