#!/usr/bin/env bash
# Idempotent set-up: Debian packages (QGIS, GDAL, rasterio, shapely) and the virtual
# environment .venv/ (system site packages + PyTorch CPU, ONNX Runtime). Safe to
# re-run. On Debian 12 this is QGIS 3.22; scripts/qgis_ltr.sh runs the same inside
# its Debian 13 chroot (QGIS 3.44 LTR), where torch and onnx come from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="qgis python3-qgis qgis-providers python3-rasterio python3-shapely \
python3-gdal python3-venv python3-pip python3-pytest xvfb xauth"
TORCH_PIN="torch==2.13.0"   # this pin takes the CPU wheel; a looser one pulls CUDA
# Mapping's engines (ONNX Runtime; OpenVINO, the default on CPUs where it is measured
# faster: config.CPU_DEFAULTS) and the exporter's ONNX package.
# ml_dtypes: needed by ONNX Runtime's quantizer (the int8 graph of a model), and
# not a dependency of Debian's python3-onnx.
ONNX_PINS="onnxruntime==1.32.0 openvino==2026.4.1 onnx==1.23.2 ml_dtypes==0.5.4"
# The scans the official plugin repository runs on upload, for the package test.
SCAN_PINS="bandit==1.9.4 detect-secrets==1.5.0"
# Real PyQt6 for the test that checks every Qt name against Qt6 (QGIS 4).
PYQT6_PIN="PyQt6==6.8.1"

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
  # Waits for another apt's lock (the other test platform's set-up may hold it).
  apt="$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600"
  $apt update -qq
  $apt install -y -qq --no-install-recommends $missing
fi

# pip must never replace or shadow what QGIS is built against: pin numpy and every
# package QGIS's Python stack loads (found the way the plugin's installer finds them).
pins() {
  QT_QPA_PLATFORM=offscreen PYTHONPATH=. /usr/bin/python3 -c "
import qgis.core, numpy, osgeo.gdal, rasterio, shapely
from ugs_plugin.installer import loaded_pins
print('\n'.join(loaded_pins()))"
}
if ! .venv/bin/python -c "import torch, rasterio, shapely, qgis.core" 2>/dev/null; then
  echo "setup: creating .venv (system site packages)"
  # --clear empties the folder in place (on the LTR platform it is a mount point).
  mkdir -p .venv
  /usr/bin/python3 -m venv --clear --system-site-packages .venv
fi
pins > .venv/constraints.txt
# Each package once: taken from the system where Debian has it (trixie ships
# python3-torch and python3-onnx), else from pip under the constraints.
need() {  # need MODULE PIN
  .venv/bin/python -c "import $1" 2>/dev/null && return 0
  echo "setup: installing $2 (constrained by .venv/constraints.txt)"
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    -c .venv/constraints.txt "$2"
}
need torch "$TORCH_PIN"
for pin in $ONNX_PINS $SCAN_PINS; do
  module="$(echo "${pin%%==*}" | tr - _)"
  need "$module" "$pin"
done
# The Qt6 check: real PyQt6 in a venv of its own (no QGIS, no PyQt5 beside it),
# inside .venv/ so each test platform has its own.
if ! .venv/pyqt6/bin/python -c "import PyQt6.QtWidgets" 2>/dev/null; then
  echo "setup: installing $PYQT6_PIN into .venv/pyqt6 for the Qt6 name check"
  /usr/bin/python3 -m venv --clear .venv/pyqt6
  .venv/pyqt6/bin/python -m pip install -q --disable-pip-version-check "$PYQT6_PIN"
fi
.venv/bin/python -c "import torch, onnxruntime, numpy, rasterio, shapely, qgis.core; import openvino; print('setup: ok, torch', torch.__version__, '| onnxruntime', onnxruntime.__version__, '| openvino', openvino.__version__.split('-')[0], '| numpy', numpy.__version__, '| rasterio', rasterio.__version__, '| shapely', shapely.__version__, '| QGIS', qgis.core.Qgis.QGIS_VERSION)"
touch .venv/.setup-done
