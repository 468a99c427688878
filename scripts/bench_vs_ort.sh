#!/usr/bin/env bash
# acim vs ONNX Runtime on the zoo models, same machine, same inputs, 1 and 2 threads; prints a
# markdown table (see docs/BENCHMARKS.md). Builds bench/acim_bench_model first if needed.
#
#   scripts/bench_vs_ort.sh                                  # print the table
#   scripts/bench_vs_ort.sh --update-doc docs/BENCHMARKS.md  # and put it in the doc
#
# Options after the script name go to bench/bench_vs_ort.py (--models, --batches, --threads,
# --runs, --warmup, --tolerance, --markdown FILE, --update-doc FILE). BUILD picks the build
# folder (default build/release, configured with the release preset if absent).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${BUILD:+BUILD=$BUILD }  # repeated in the report's command line
BUILD=${BUILD:-build/release}
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DACIM_BUILD_BENCHMARKS=ON >&2
fi
# The benchmark targets exist only when ACIM_BUILD_BENCHMARKS is on in that build folder.
if ! grep -q '^ACIM_BUILD_BENCHMARKS:BOOL=ON' "$BUILD/CMakeCache.txt"; then
  cmake -S . -B "$BUILD" -DACIM_BUILD_BENCHMARKS=ON >&2
fi
cmake --build "$BUILD" --target acim_bench_model -j"${JOBS:-$(nproc)}" >&2

PY=.venv/bin/python
[ -x "$PY" ] || { echo "bench_vs_ort: $PY missing; run scripts/setup.sh first" >&2; exit 1; }
export ACIM_BENCH_COMMAND="${PREFIX}scripts/bench_vs_ort.sh${*:+ $*}"
exec "$PY" bench/bench_vs_ort.py --acim-bin "$BUILD/bench/acim_bench_model" "$@"
