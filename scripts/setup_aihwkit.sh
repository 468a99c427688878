#!/usr/bin/env bash
# Builds IBM aihwkit (CPU only) into ./.venv-aihwkit for the side-by-side crossbar benchmark
# (bench/bench_vs_aihwkit.py, run by scripts/bench_crossbar.sh --aihwkit).
# aihwkit 1.2.0 ships only as an sdist on PyPI: it compiles its C++ simulator (RPUCuda's CPU
# part) against torch, pybind11 and OpenBLAS. Idempotent: safe to run again.
#   AIHWKIT_VERSION   aihwkit release to build (default 1.2.0)
#   TORCH_WHEELS      folder of pre-downloaded torch wheels to install from offline, if present
#                     (default /tmp/torchwheels); otherwise torch comes from PyPI
#   JOBS              parallel compile jobs (default: number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."

AIHWKIT_VERSION=${AIHWKIT_VERSION:-1.2.0}
TORCH_WHEELS=${TORCH_WHEELS:-/tmp/torchwheels}
JOBS=${JOBS:-$(nproc)}
VENV=.venv-aihwkit

# Debian packages the aihwkit build needs (by name).
APT_PACKAGES=(g++ make cmake ninja-build libopenblas-dev pybind11-dev python3-venv python3-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup_aihwkit: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if [ -d "$TORCH_WHEELS" ]; then
    echo "setup_aihwkit: installing torch offline from $TORCH_WHEELS"
    "${PIP[@]}" install -q --no-index --find-links "$TORCH_WHEELS" torch
  else
    echo "setup_aihwkit: installing torch (CPU wheel) from PyPI"
    "${PIP[@]}" install -q torch
  fi
fi
TORCH_VERSION=$("$VENV/bin/python" -c "import torch; print(torch.__version__.split('+')[0])")
echo "setup_aihwkit: torch $TORCH_VERSION"

# aihwkit's build requirements (its pyproject.toml). It is built without build isolation so it
# compiles against the torch installed above (an isolated build would fetch another torch).
"${PIP[@]}" install -q "setuptools>=77" wheel "scikit-build>=0.18.1" "pybind11>=3.0.1" ninja \
  "cmake>=4.2.1" mypy numpy scipy scikit-learn "requests>=2.32,<3" protobuf tqdm
# torchvision is a declared dependency (unused by the benchmark); pin it to the installed torch
# by letting pip resolve it without replacing torch.
"${PIP[@]}" install -q torchvision "torch==$TORCH_VERSION" --find-links "$TORCH_WHEELS" || \
  echo "setup_aihwkit: warning: torchvision not installed (not needed by the benchmark)"

if "$VENV/bin/python" -c "import aihwkit, sys; sys.exit(aihwkit.__version__ != '$AIHWKIT_VERSION')" \
    2>/dev/null; then
  echo "setup_aihwkit: aihwkit $AIHWKIT_VERSION already installed"
else
  echo "setup_aihwkit: building aihwkit $AIHWKIT_VERSION from source (CPU only; takes a while)"
  # The build runs mypy's stubgen from PATH after linking: the venv's bin must be on it.
  export PATH="$PWD/$VENV/bin:$PATH"
  export USE_CUDA=OFF
  export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS MAX_JOBS=$JOBS
  export SKBUILD_CONFIGURE_OPTIONS="-DUSE_CUDA=OFF -DRPU_BLAS=OpenBLAS"
  nice "${PIP[@]}" install -v --no-build-isolation --no-deps --no-binary aihwkit \
    "aihwkit==$AIHWKIT_VERSION"
fi
"$VENV/bin/python" -c "import aihwkit, torch; \
print('setup_aihwkit: aihwkit', aihwkit.__version__, 'torch', torch.__version__)"
