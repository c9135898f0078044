"""The dependency installer: per-OS interpreter and folder logic (as data), the pip
call, and end to end: a fresh profile, the plugin from its zip, ONNX Runtime
installed by the installer with QGIS's Python, then a map through qgis_process with
no PyTorch anywhere QGIS looks."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SAMPLE_SCENE, hiding
from ugs_plugin import installer

sys.path.insert(0, str(REPO / "scripts"))
import package  # noqa: E402


@pytest.mark.parametrize("system, executable, prefix, present, expected", [
    ("Windows", r"C:\OSGeo4W\bin\qgis-bin.exe", r"C:\OSGeo4W\apps\Python312",
     r"C:\OSGeo4W\apps\Python312/python.exe", r"C:\OSGeo4W\apps\Python312/python.exe"),
    ("Darwin", "/Applications/QGIS.app/Contents/MacOS/QGIS",
     "/Applications/QGIS.app/Contents/Frameworks/Python.framework/Versions/3.12",
     "/Applications/QGIS.app/Contents/MacOS/bin/python3.12",
     "/Applications/QGIS.app/Contents/MacOS/bin/python3.12"),
    ("Linux", "/usr/bin/qgis", "/usr", "/usr/bin/python3.12", "/usr/bin/python3.12"),
    ("Linux", "/usr/bin/python3", "/usr", "", "/usr/bin/python3"),
])
def test_finds_the_python_behind_qgis_on_each_os(system, executable, prefix, present,
                                                 expected):
    found = installer.find_python(executable, prefix, system, (3, 12),
                                  exists=lambda p: p == present)
    assert Path(found) == Path(expected)


def test_no_interpreter_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="no Python interpreter found"):
        installer.find_python("/opt/qgis/bin/qgis", "/opt/qgis", "Linux", (3, 12),
                              exists=lambda p: False)


def test_folder_per_python_and_platform():
    tag = installer.platform_tag((3, 12), "Windows", "AMD64")
    assert tag == "py312-windows-x86_64"
    assert installer.dependency_folder("/p", tag) == \
        Path("/p/python/dependencies/ugs/py312-windows-x86_64")
    assert installer.platform_tag((3, 11), "Darwin", "arm64") == "py311-darwin-arm64"


def test_pip_call_is_a_fixed_list_with_the_constraints(tmp_path):
    command = installer.pip_command("/usr/bin/python3", tmp_path, installer.MAPPING,
                                    tmp_path / "c.txt")
    assert command[:4] == ["/usr/bin/python3", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(tmp_path)
    assert command[command.index("-c") + 1] == str(tmp_path / "c.txt")
    assert command[-1].startswith("onnxruntime==")
    training = installer.pip_command("py", tmp_path, installer.TRAINING, "c", gpu=True)
    assert installer.TORCH_INDEX["cuda"] in training and "torch==2.13.0" in training
    cpu = installer.pip_command("py", tmp_path, installer.TRAINING, "c", gpu=False)
    assert installer.TORCH_INDEX["cpu"] in cpu
    with pytest.raises(ValueError):
        installer.pip_command("py", tmp_path, "everything", "c")


def test_openvino_is_one_pinned_version_in_setup_the_installer_and_the_engine():
    from ugs_plugin.core.model.engines import OPENVINO_PIN
    assert installer.PACKAGES[installer.FAST] == [OPENVINO_PIN]
    assert OPENVINO_PIN in (REPO / "scripts" / "setup.sh").read_text()
    fast = installer.pip_command("py", "t", installer.FAST, "c")
    assert fast[-1] == OPENVINO_PIN and "-c" in fast


def test_loaded_packages_are_pinned_to_their_versions():
    pins = installer.loaded_pins({"numpy", "rasterio", "shapely.geometry", "torch"})
    assert f"numpy=={np.__version__}" in pins
    assert any(p.startswith("rasterio==") for p in pins)
    assert not any(p.startswith(("torch==", "onnxruntime==")) for p in pins)


def test_a_package_whose_metadata_names_no_module_is_still_pinned(tmp_path,
                                                                 monkeypatch):
    """Debian strips RECORD files and meson builds (numpy 2) write no top_level.txt:
    the metadata then maps no module to the distribution (QGIS 3.44 on trixie wrote
    an empty constraints file). Its own name still counts."""
    site = tmp_path / "site"
    (site / "ugsprobe").mkdir(parents=True)
    (site / "ugsprobe" / "__init__.py").write_text("__version__ = '3.1.4'\n")
    info = site / "ugsprobe-3.1.4.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ugsprobe\n"
                                   "Version: 3.1.4\n")
    monkeypatch.syspath_prepend(str(site))
    import importlib.metadata
    assert "ugsprobe" not in importlib.metadata.packages_distributions()
    import ugsprobe  # noqa: F401  (loaded, as QGIS would have it)
    assert "ugsprobe==3.1.4" in installer.loaded_pins()


def test_copies_of_pinned_packages_are_removed_and_the_rest_kept(tmp_path):
    target = tmp_path / "deps"
    for name, version, files in (("numpy", "2.2.4", ["numpy/__init__.py",
                                                      "numpy/core/x.so",
                                                      "numpy.libs/libopenblas.so"]),
                                 ("onnxruntime", "1.32.0", ["onnxruntime/__init__.py"])):
        info = target / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        for f in files:
            (target / f).parent.mkdir(parents=True, exist_ok=True)
            (target / f).write_text("x")
        rows = files + [f"{info.name}/METADATA", f"{info.name}/RECORD"]
        (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
        (info / "RECORD").write_text("".join(f"{r},,\n" for r in rows))
    constraints = tmp_path / "c.txt"
    constraints.write_text("numpy==2.2.4\nshapely==2.1.0\n")
    assert installer.prune_pinned(target, constraints) == ["numpy-2.2.4"]
    assert sorted(p.name for p in target.iterdir()) == ["onnxruntime",
                                                        "onnxruntime-1.32.0.dist-info"]


@pytest.mark.network
def test_fresh_profile_gets_onnxruntime_and_maps_without_pytorch(tmp_path):
    from qgis_profile import zip_profile
    env, plugins = zip_profile(tmp_path / "qgis", package.build(tmp_path / "dist"))
    # A QGIS whose own Python has no PyTorch (Debian 13's has python3-torch).
    env["PYTHONPATH"] = hiding(tmp_path / "hidden", "torch")
    profile = plugins.parent.parent
    # The installer, run by QGIS's Python (Debian: /usr/bin/python3) from the
    # unzipped plugin, as the dialog runs it.
    proc = subprocess.run(["/usr/bin/python3", "-m", "ugs_plugin.installer",
                           "--profile", str(profile), "--level", "mapping"],
                          cwd=plugins / "ugs", capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    folder = installer.dependency_folder(profile)
    assert (folder / "onnxruntime").is_dir() and not (folder / "torch").exists()
    # QGIS's numpy is pinned, and the copy pip makes under --target is removed.
    assert f"numpy=={np.__version__}" in (folder / "constraints.txt").read_text()
    assert not (folder / "numpy").exists() and not list(folder.glob("numpy-*"))
    assert "removed the copy of numpy" in proc.stdout
    out = tmp_path / "green.tif"
    run = subprocess.run(["qgis_process.bin", "run", "ugs:extracturbangreenspace", "--",
                          f"INPUT={SAMPLE_SCENE}", f"OUTPUT={out}"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.exists()
    # Training needs PyTorch, which this profile does not have: said, not crashed.
    train = subprocess.run(["qgis_process.bin", "run", "ugs:trainmodel", "--",
                            f"TILES={tmp_path}", f"OUTPUT={tmp_path / 'm.pt'}"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode != 0
    assert "needs PyTorch" in train.stdout + train.stderr
