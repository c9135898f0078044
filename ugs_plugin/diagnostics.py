"""A plain-text report for bug reports: what QGIS, Python and the engine's packages
are, which device and engine a run would use, the model files and their cards, and
where dependencies were looked for. No QGIS imports (the QGIS version is passed in)."""
from __future__ import annotations

import importlib.metadata
import platform
import sys

from . import PLUGIN_DIR, plugin_version

PACKAGES = ("numpy", "rasterio", "GDAL", "shapely", "onnxruntime", "openvino", "torch",
            "onnx")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        module = sys.modules.get(dist.lower())
        return getattr(module, "__version__", "not installed") if module else \
            "not installed"


def report(qgis_version: str | None = None, profile_dir=None) -> str:
    from .core.model.engines import cpu_choice, cpu_family, installed, resolve_engine
    from .core.model.card import file_sha256, MODELS_DIR, read_card
    from .dependencies import candidate_folders
    lines = [f"UGS plugin {plugin_version()} at {PLUGIN_DIR}",
             f"QGIS {qgis_version or 'not running'}",
             f"Python {platform.python_version()} ({sys.executable}), "
             f"{platform.platform()}, {platform.machine()}"]
    lines += [f"{name}: {_version(name)}" for name in PACKAGES]
    try:
        lines.append(f"engine for device auto: {resolve_engine('auto', 'auto')}")
    except Exception as err:  # the report must never fail
        lines.append(f"engine for device auto: none ({err})")
    try:
        engine, precision, why = cpu_choice()
        lines.append(f"CPU family {cpu_family()}: maps with {engine} {precision} ({why})")
    except Exception as err:
        lines.append(f"CPU family: unknown ({err})")
    if installed("torch") and "torch" in sys.modules:
        torch = sys.modules["torch"]
        cuda = torch.cuda.is_available()
        lines.append(f"CUDA: {cuda}" + (f", {torch.cuda.get_device_name(0)}" if cuda
                                        else ""))
    for pt in sorted(MODELS_DIR.glob("*.pt")):
        try:
            card = read_card(pt)
            status = "hash ok" if card.get("sha256") in (None, file_sha256(pt)) else \
                "HASH DIFFERS"
            onnx = (card.get("onnx") or {}).get("file")
            lines.append(f"model {pt.name}: {card.get('variant')}, tile "
                         f"{card.get('tile_size')}, {status}, onnx "
                         f"{onnx if onnx and (pt.parent / onnx).exists() else 'none'}")
        except Exception as err:
            lines.append(f"model {pt.name}: unreadable ({err})")
    folders = candidate_folders(PLUGIN_DIR, "", profile_dir)
    lines.append("dependency folders: " + (", ".join(str(f) for f in folders) or
                                           "none found"))
    return "\n".join(lines) + "\n"
