"""Finding the engine's packages (PyTorch, ONNX Runtime) from the Python that QGIS
runs.

QGIS and qgis_process run the system Python, which rarely has torch. Folders are
tried in this order and *appended* to ``sys.path`` (so QGIS's own numpy, GDAL and
rasterio always win):

1. the ``UGS_PYTHON_PATH`` environment variable (folders separated by ``os.pathsep``);
2. the QGIS setting ``ugs/python_path`` (same format; Settings > Options > Advanced);
3. ``<plugin folder>/.venv`` (what ``make demo`` / ``make test`` create);
4. ``<QGIS profile>/python/dependencies/ugs/<py3X-platform>`` (what the plugin's
   installer writes, see installer.py), then ``.../dependencies/ugs`` (for a
   ``pip install --target`` by hand).

A folder may be a site-packages folder or a virtual environment's root.
"""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ENV_VAR = "UGS_PYTHON_PATH"
SETTING_KEY = "ugs/python_path"
# torch's pure-Python helpers: the copies installed with torch must win over older
# system ones (Debian 12's sympy 1.11 breaks torch 2.13's optimizers, so training
# and adaptation would fail inside QGIS while inference works).
TORCH_HELPERS = ("mpmath", "sympy")


def _site_packages(folder: Path) -> Path:
    """A venv root → its site-packages for this Python version; else the folder."""
    candidate = (folder / "lib" / f"python{sys.version_info.major}."
                 f"{sys.version_info.minor}" / "site-packages")
    return candidate if candidate.is_dir() else folder


def candidate_folders(plugin_dir, setting_value: str = "", profile_dir=None) -> list:
    folders = []
    for text in (os.environ.get(ENV_VAR, ""), setting_value or ""):
        folders += [Path(p).expanduser() for p in text.split(os.pathsep) if p.strip()]
    folders.append(Path(plugin_dir).resolve() / ".venv")
    if profile_dir:
        from .installer import dependency_folder
        folders.append(dependency_folder(profile_dir))  # where the installer puts them
        folders.append(Path(profile_dir) / "python" / "dependencies" / "ugs")
    return [_site_packages(f) for f in folders if f.is_dir()]


def _import_first_from(folder: Path, names):
    """Import ``names`` from ``folder`` ahead of the rest of sys.path, unless they are
    already imported or the folder lacks them."""
    for name in names:
        if name in sys.modules or not (folder / name).is_dir():
            continue
        sys.path.insert(0, str(folder))
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        finally:
            sys.path.remove(str(folder))


def ensure_module(name: str, plugin_dir, setting_value: str = "", profile_dir=None,
                  helpers=()):
    """Make ``import name`` work if any known folder has it: (True, version) or
    (False, the folders tried)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        pass
    else:  # found already (perhaps in a folder another package's search appended)
        if helpers and getattr(module, "__file__", None):
            _import_first_from(Path(module.__file__).resolve().parents[1], helpers)
        return True, getattr(module, "__version__", "")
    tried = candidate_folders(plugin_dir, setting_value, profile_dir)
    for folder in tried:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
        importlib.invalidate_caches()
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        _import_first_from(folder, helpers)
        return True, getattr(module, "__version__", "")
    return False, ", ".join(str(f) for f in tried) or "none found"


def ensure_onnxruntime(plugin_dir, setting_value: str = "", profile_dir=None):
    """(True, version) or (False, how to install ONNX Runtime, mapping's engine)."""
    ok, found = ensure_module("onnxruntime", plugin_dir, setting_value, profile_dir)
    if ok:
        return ok, found
    return False, (
        "Mapping needs ONNX Runtime (the 'onnxruntime' package, about 15 MB) or "
        f"PyTorch in the Python QGIS runs ({sys.executable}). Install it with "
        "Raster > Urban Green Space > Install deep-learning dependencies…, or with "
        "pip for that Python, or into a folder named in the "
        f"{ENV_VAR} environment variable or the QGIS setting '{SETTING_KEY}', then "
        f"restart QGIS. Folders tried: {found}.")


def ensure_torch(plugin_dir, setting_value: str = "", profile_dir=None):
    """Make ``import torch`` work if any known folder has it.

    Returns (True, version) or (False, a message that says how to install it).
    """
    ok, found = ensure_module("torch", plugin_dir, setting_value, profile_dir,
                              TORCH_HELPERS)
    if ok:
        return ok, found
    where = found
    return False, (
        "PyTorch (the 'torch' package) was not found by the Python QGIS runs "
        f"({sys.executable}, Python {sys.version_info.major}.{sys.version_info.minor}). "
        "Install it with Raster > Urban Green Space > Install deep-learning "
        "dependencies… (mapping, training and adaptation), or for that Python "
        "(e.g. 'pip install torch --index-url "
        "https://download.pytorch.org/whl/cpu'), or install it into a folder and name "
        f"that folder in the {ENV_VAR} environment variable or the QGIS setting "
        f"'{SETTING_KEY}', then restart QGIS. Folders tried: {where}.")
