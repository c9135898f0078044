"""The plugin zip: what it holds, its size, and a first map from it in a fresh QGIS
profile (installed from the zip, not a symlink), the engine's packages found through
UGS_PYTHON_PATH as a user's dependency folder would be."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import REPO, SAMPLE_SCENE

sys.path.insert(0, str(REPO / "scripts"))
import package  # noqa: E402


def test_zip_holds_the_plugin_and_nothing_else(tmp_path):
    target = package.build(tmp_path)
    assert target.name == f"ugs-{package.plugin_version()}.zip"
    assert target.stat().st_size < package.LIMIT_MB * 2 ** 20
    names = zipfile.ZipFile(target).namelist()
    assert all(n.startswith("ugs/") for n in names)
    for needed in ("ugs/metadata.txt", "ugs/__init__.py", "ugs/LICENSE",
                   "ugs/models/ugsnet_light.pt", "ugs/models/ugsnet_light.onnx",
                   "ugs/models/ugsnet_light.json", "ugs/models/ugsnet_full.json",
                   "ugs/ugs_plugin/core/model/engines.py", "ugs/resources/icon.svg"):
        assert needed in names, needed
    for banned in ("/tests/", "/benchmarks/", "/scripts/", "/.venv/", "__pycache__",
                   ".pyc", "/.git/", "ugsnet_full.pt"):
        assert not [n for n in names if banned in n], banned


@pytest.mark.qgis_process
def test_a_fresh_profile_maps_from_the_zip(tmp_path):
    from qgis_profile import zip_profile
    env, _ = zip_profile(tmp_path / "qgis", package.build(tmp_path / "dist"))
    env["UGS_PYTHON_PATH"] = str(REPO / ".venv")
    out = tmp_path / "green.tif"
    proc = subprocess.run(["qgis_process.bin", "--json", "run",
                           "ugs:extracturbangreenspace", "--", f"INPUT={SAMPLE_SCENE}",
                           f"OUTPUT={out}"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    with rasterio.open(out) as ds:
        classes = ds.read(1)
    assert 0.05 < results["GREEN_FRACTION"] < 0.5
    assert results["GREEN_FRACTION"] == pytest.approx(
        np.mean(classes == 1) / np.mean(classes != 255))


def test_zip_contents_pass_the_official_repository_scans(tmp_path):
    """bandit (no medium or high finding) and detect-secrets (none) on exactly what
    the zip holds. The model cards' SHA-256 hex digests are excluded from the
    secrets scan: they are checksums, published on purpose."""
    target = package.build(tmp_path / "dist")
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(target).extractall(unpacked)
    bin_dir = Path(sys.executable).parent
    bandit = subprocess.run([str(bin_dir / "bandit"), "-r", "-q", "-ll", "-f", "json",
                             str(unpacked)], capture_output=True, text=True, timeout=600)
    report = json.loads(bandit.stdout)
    findings = [r for r in report["results"]
                if r["issue_severity"] in ("MEDIUM", "HIGH")]
    assert not findings, findings
    files = [str(p) for p in unpacked.rglob("*") if p.is_file()
             and p.suffix not in (".pt", ".onnx", ".tif", ".png", ".gpkg")]
    secrets = subprocess.run([str(bin_dir / "detect-secrets"), "scan", "--exclude-lines",
                              '"sha256": "[0-9a-f]{64}"', *files], capture_output=True,
                             text=True, timeout=600)
    assert json.loads(secrets.stdout)["results"] == {}
