#!/usr/bin/env bash
# Idempotent set-up: Debian packages (QGIS 3.22, GDAL, rasterio, shapely) and the
# virtual environment .venv/ (system site packages + PyTorch CPU). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="qgis python3-qgis qgis-providers python3-rasterio python3-shapely \
python3-gdal python3-venv python3-pip python3-pytest xvfb"
TORCH_PIN="torch==2.13.0"   # this pin takes the CPU wheel; a looser one pulls CUDA
# Mapping's engine (ONNX Runtime) and the exporter's ONNX package.
ONNX_PINS="onnxruntime==1.32.0 onnx==1.23.2"
# The scans the official plugin repository runs on upload, for the package test.
SCAN_PINS="bandit==1.9.4 detect-secrets==1.5.0"

missing=""
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo for apt-get" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

if ! .venv/bin/python -c "import torch, rasterio, shapely, qgis.core" 2>/dev/null; then
  echo "setup: creating .venv (system site packages) and installing $TORCH_PIN"
  rm -rf .venv
  /usr/bin/python3 -m venv --system-site-packages .venv
  /usr/bin/python3 -c "import numpy; print('numpy==' + numpy.__version__)" > .venv/constraints.txt
  .venv/bin/pip install -q -c .venv/constraints.txt "$TORCH_PIN"
fi
# pip must never replace what QGIS is built against: pin Debian's numpy.
/usr/bin/python3 -c "import numpy; print('numpy==' + numpy.__version__)" > .venv/constraints.txt
if ! .venv/bin/python -c "import onnxruntime, onnx, bandit, detect_secrets" 2>/dev/null; then
  echo "setup: installing $ONNX_PINS $SCAN_PINS (constrained by .venv/constraints.txt)"
  .venv/bin/pip install -q -c .venv/constraints.txt $ONNX_PINS $SCAN_PINS
fi
.venv/bin/python -c "import torch, onnxruntime, numpy, rasterio, qgis.core; print('setup: ok, torch', torch.__version__, '| onnxruntime', onnxruntime.__version__, '| numpy', numpy.__version__, '| rasterio', rasterio.__version__, '| QGIS', qgis.core.Qgis.QGIS_VERSION)"
touch .venv/.setup-done
