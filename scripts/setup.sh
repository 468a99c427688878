#!/usr/bin/env bash
# Installs everything acim needs on a fresh Debian 12 machine, by package name, idempotently:
# Debian packages with apt-get, Python packages with pip into ./.venv (pip's cache is kept
# between runs). Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  cmake ninja-build g++ make pkg-config ccache
  libonnx-dev libprotobuf-dev protobuf-compiler     # ONNX import
  zlib1g-dev                                        # CRC-32 of Program file sections
  libtomlplusplus-dev                               # chip specs (TOML)
  nlohmann-json3-dev                                # machine-readable output
  libcli11-dev                                      # the command line
  libopenblas-dev                                   # tuned BLAS for the float kernels
  libgoogle-perftools-dev                           # tcmalloc: the executables' allocator
  libgtest-dev libgmock-dev libbenchmark-dev        # tests and benchmarks
  libfftw3-dev libsndfile1-dev libsamplerate0-dev   # keyword spotting: MFCC, WAV files, resampling
  espeak-ng sox                                     # keyword spotting: the spoken data set
  libsqlite3-dev libopenmpi-dev openmpi-bin         # design-space sweeps: result store, MPI
  python3-venv python3-dev                          # the Python package (bindings)
  clang libclang-rt-14-dev libomp-14-dev            # fuzzing (libFuzzer) and ThreadSanitizer
  chromium                                          # renders `acim report --html` in a test
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python tools: onnx (its backend test data is the conformance suite; model-making scripts),
# onnxruntime (the side-by-side benchmark). Pinned so conformance data and results are stable:
# onnx 1.16 is the release whose newest opset (21) matches what acim imports.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
REQ=scripts/requirements.txt
STAMP=.venv/.requirements.stamp
if [ ! -f "$STAMP" ] || ! cmp -s "$REQ" "$STAMP"; then
  echo "setup: installing Python packages from $REQ"
  # torch and its CUDA libraries unpack to ~5.7 GB, and pip needs room for the wheels as well:
  # refuse early, with a message, rather than fail half-installed with pip's "No space left".
  NEED_GB=9
  free_gb=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1024 / 1024 ))
  if ! compgen -G ".venv/lib/python3*/site-packages/torch" > /dev/null &&
     [ "$free_gb" -lt "$NEED_GB" ]; then
    echo "setup: error: $free_gb GB free on the disk holding $(pwd); installing $REQ into" \
         ".venv needs about $NEED_GB GB. Free some space and run 'make setup' again." >&2
    exit 1
  fi
  .venv/bin/pip install -q --upgrade pip
  # TORCH_WHEELS: a folder of pre-downloaded wheels (torch and its CUDA dependencies are ~3 GB
  # from PyPI); pip takes them from there when present and from PyPI otherwise.
  TORCH_WHEELS=${TORCH_WHEELS:-/tmp/torchwheels}
  FIND_LINKS=()
  [ -d "$TORCH_WHEELS" ] && FIND_LINKS=(--find-links "$TORCH_WHEELS")
  .venv/bin/pip install -q "${FIND_LINKS[@]}" -r "$REQ"
  cp "$REQ" "$STAMP"
fi
