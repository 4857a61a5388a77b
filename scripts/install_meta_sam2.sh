#!/usr/bin/env bash
# Install Meta's reference SAM2 implementation (PyPI `sam2`) into a venv, for the parity test and
# benchmarks/peer_speed.py. It is a test peer, not an app dependency.
#   scripts/install_meta_sam2.sh VENV_DIR
#
# Why the unusual flags: `sam2` declares torchvision as a requirement, and on these machines the only
# torchvision wheels are CUDA builds that break `import torchvision` and with it transformers' SAM2.
# The modules we use (build_sam, the video predictor, the model) never import torchvision, so sam2
# goes in with --no-deps and its real import-time dependencies are listed here by hand.
# SAM2_BUILD_CUDA=0 skips the optional CUDA extension (hole filling), so the sdist builds with no
# compiler toolchain beyond what setuptools needs; --no-build-isolation builds against the venv's
# own setuptools and torch instead of downloading a second torch into a build environment.
# Idempotent: exits at once when the peer already imports.
set -euo pipefail

VENV=${1:?usage: scripts/install_meta_sam2.sh VENV_DIR}
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "install_meta_sam2: no python at $PY" >&2; exit 2; }

# Fast check (no torch import): every top-level module the peer needs is installed.
present='import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ("sam2", "hydra", "iopath", "omegaconf", "antlr4", "portalocker", "PIL")))'
if "$PY" -c "$present" 2>/dev/null; then
  exit 0
fi
probe='import sam2.build_sam, sam2.sam2_video_predictor'

# Import-time dependencies of sam2 / hydra-core / iopath (pure Python, or Pillow's wheel).
"$PY" -m pip install -q --disable-pip-version-check \
  "omegaconf>=2.2,<2.4" "antlr4-python3-runtime==4.9.*" "portalocker" "tqdm>=4.66" "pillow>=9.4"
SAM2_BUILD_CUDA=0 "$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
  "sam2==1.1.0" "hydra-core>=1.3.2,<1.4" "iopath==0.1.10"

if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torchvision') is not None)"; then
  :
else
  echo "install_meta_sam2: torchvision is installed in $VENV; the project must not depend on it" >&2
  exit 1
fi
if ! "$PY" -c "$probe"; then
  echo "install_meta_sam2: sam2 was installed but does not import (see the error above)" >&2
  exit 1
fi
echo "install_meta_sam2: Meta's sam2 $("$PY" -c 'import importlib.metadata as m; print(m.version("sam2"))') is ready in $VENV"
