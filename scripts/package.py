"""Build the plugin zip for *Plugins > Install from ZIP* and the official repository:
``dist/ugs-<version>.zip`` with one top folder ``ugs/`` holding the plugin as QGIS
loads it (metadata, code, bundled light model with its ONNX graph, styles, icons,
sample scene) and nothing else: no tests, benchmarks, scripts, caches. The full
UGSNet (32.8 MB) is a separate download; its card ships, so the download is checked.

    .venv/bin/python scripts/package.py [--out dist]
"""
import argparse
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP = "ugs"
LIMIT_MB = 25  # the official plugin repository's upload limit
INCLUDE = ("metadata.txt", "__init__.py", "LICENSE", "README.md", "ugs_plugin",
           "models", "resources")
EXCLUDE_NAMES = {"__pycache__", ".pytest_cache", ".DS_Store"}
EXCLUDE_SUFFIXES = (".pyc", ".pyo", ".aux.xml")
SEPARATE_DOWNLOADS = {"models/ugsnet_full.pt"}


def plugin_version() -> str:
    for line in (REPO / "metadata.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    raise SystemExit("metadata.txt has no version")


def files_to_pack() -> list:
    """Repository-relative paths of every file the zip holds, sorted."""
    out = []
    for item in INCLUDE:
        path = REPO / item
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for f in candidates:
            rel = f.relative_to(REPO).as_posix()
            if not f.is_file() or rel in SEPARATE_DOWNLOADS:
                continue
            if set(f.relative_to(REPO).parts) & EXCLUDE_NAMES or \
                    f.name.endswith(EXCLUDE_SUFFIXES):
                continue
            if f.suffix == ".onnx" and ".t" in f.stem:  # local exports, other tiles
                continue
            out.append(rel)
    return sorted(out)


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{TOP}-{plugin_version()}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for rel in files_to_pack():
            zf.write(REPO / rel, f"{TOP}/{rel}")
    tmp.replace(target)
    return target


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args()
    target = build(args.out)
    size_mb = target.stat().st_size / 2 ** 20
    print(f"{target}: {size_mb:.1f} MB ({len(files_to_pack())} files; limit "
          f"{LIMIT_MB} MB)")
    if size_mb >= LIMIT_MB:
        sys.exit(f"the zip is over the official repository's {LIMIT_MB} MB limit")


if __name__ == "__main__":
    main()
