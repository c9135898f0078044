"""UGS: urban green space mapping with UGSNet (QGIS plugin + headless engine)."""
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent


def plugin_version() -> str:
    """Version from metadata.txt (the single source of truth)."""
    for line in (PLUGIN_DIR / "metadata.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    return "unknown"
