"""Installing the engine's packages from inside QGIS, for users without a terminal.

Three levels: *mapping* (ONNX Runtime, ~15 MB), *faster mapping* (OpenVINO, ~60 MB,
the default engine on CPUs where it is measured faster: core/config.CPU_DEFAULTS)
and *training and adaptation* (PyTorch, a CPU build, or the CUDA build when
``nvidia-smi`` reports a GPU, plus ONNX for the exporter). Packages go with pip,
run by the real Python interpreter of QGIS (on Windows and macOS ``sys.executable``
is the QGIS program itself), into a folder of the profile per Python version and
platform, which ``dependencies.py`` searches. A constraints file pins numpy and every package QGIS has already imported
to its loaded version, so an install can never replace them. Commands are fixed
argument lists: no shell.

No QGIS imports here: the dialog (gui/install_dialog.py) runs ``pip_command``'s list
with QProcess; ``python -m ugs_plugin.installer`` runs it from a terminal or a test.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

MAPPING, FAST, TRAINING = "mapping", "fast", "training"
PACKAGES = {
    MAPPING: ["onnxruntime==1.32.0"],
    FAST: ["openvino==2026.4.1"],
    TRAINING: ["torch==2.13.0", "onnx==1.23.2"],
}
LEVELS = tuple(PACKAGES)
TORCH_INDEX = {"cpu": "https://download.pytorch.org/whl/cpu",
               "cuda": "https://download.pytorch.org/whl/cu128"}
# Never pinned: pip itself and what we install.
NOT_PINNED = {"pip", "setuptools", "wheel", "onnxruntime", "openvino", "torch", "onnx"}


def platform_tag(version=None, system=None, machine=None) -> str:
    """``py311-linux-x86_64``: packages with compiled code fit one Python and one
    platform, so each gets its own folder."""
    major, minor = version or sys.version_info[:2]
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower().replace("amd64", "x86_64")
    return f"py{major}{minor}-{system}-{machine}"


def dependency_folder(profile_dir, tag=None) -> Path:
    """``<profile>/python/dependencies/ugs/<platform tag>``."""
    return Path(profile_dir) / "python" / "dependencies" / "ugs" / (tag or platform_tag())


def find_python(executable=None, prefix=None, system=None, version=None,
                exists=os.path.exists) -> str:
    """The Python interpreter behind QGIS, as QGIS's own pip-using plugins find it:
    on Windows (OSGeo4W or the standalone installer) ``sys.executable`` is
    ``qgis-bin.exe`` and python.exe sits in ``sys.prefix``; on macOS it is the QGIS
    app binary and python3 sits in ``Contents/MacOS/bin``; on Linux it is usually the
    interpreter itself."""
    executable = executable or sys.executable
    prefix = prefix or sys.prefix
    system = (system or platform.system()).lower()
    major, minor = version or sys.version_info[:2]
    name = Path(executable).name.lower()
    if name.startswith("python") and "qgis" not in name:
        return executable
    if system == "windows":
        candidates = [Path(prefix) / "python.exe", Path(prefix) / "python3.exe",
                      Path(executable).parent / "python.exe",
                      Path(executable).parent / "python3.exe"]
    elif system == "darwin":
        app = Path(executable).parent  # .../QGIS.app/Contents/MacOS
        candidates = [app / "bin" / f"python{major}.{minor}", app / "bin" / "python3",
                      Path(prefix) / "bin" / f"python{major}.{minor}",
                      Path(prefix) / "bin" / "python3"]
    else:
        candidates = [Path(prefix) / "bin" / f"python{major}.{minor}",
                      Path(prefix) / "bin" / "python3",
                      Path(f"/usr/bin/python{major}.{minor}"), Path("/usr/bin/python3")]
    for candidate in candidates:
        if exists(str(candidate)):
            return str(candidate)
    raise FileNotFoundError(f"no Python interpreter found next to {executable}; "
                            f"looked for {', '.join(str(c) for c in candidates)}")


def module_owners() -> dict:
    """{top-level module: {distribution names}}. Debian strips RECORD files and
    meson-built packages (numpy 2) write no top_level.txt, so the metadata alone
    misses them there; a distribution also counts as owning the module of its own
    name (numpy, PyQt5, rasterio)."""
    owners = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        owners.setdefault(module, set()).update(dists)
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            owners.setdefault(name.replace("-", "_"), set()).add(name)
            owners.setdefault(name.lower().replace("-", "_"), set()).add(name)
    return owners


def _loaded_version(module, dist):
    """The version of the module as loaded when it is the distribution's own module
    (the copy QGIS runs, whichever folder it came from), else the metadata's."""
    loaded = sys.modules.get(module)
    version = getattr(loaded, "__version__", None)
    if isinstance(version, str) and dist.lower().replace("-", "_") == module.lower():
        return version
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def loaded_pins(modules=None) -> list:
    """``name==version`` for numpy and every installed distribution whose top-level
    module this Python has imported (QGIS's own packages among them)."""
    modules = set(sys.modules if modules is None else modules)
    top = {m.split(".")[0] for m in modules}
    owners = module_owners()
    pins = {}
    for module in sorted(top | {"numpy"}):
        for dist in sorted(owners.get(module, ())):
            if dist.lower() in NOT_PINNED:
                continue
            version = _loaded_version(module, dist)
            if version:
                pins[dist.lower()] = version.split("+")[0]
    if "numpy" not in pins:  # never unpinned, whatever the metadata says
        import numpy
        pins["numpy"] = numpy.__version__
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def prune_pinned(target, constraints_file) -> list:
    """Remove from ``target`` the copies pip made of pinned packages (``--target``
    installs every dependency, even one QGIS already has): QGIS's own copy is the one
    that loads, so a second one is only a trap. Returns the removed distributions."""
    pinned = set()
    for line in Path(constraints_file).read_text(encoding="utf-8").splitlines():
        if "==" in line:
            pinned.add(_normal(line.split("==")[0]))
    removed = []
    for info in sorted(Path(target).glob("*.dist-info")):
        name = _normal(info.name[:-len(".dist-info")].rsplit("-", 1)[0])
        record = info / "RECORD"
        if name not in pinned or not record.exists():
            continue
        files = [Path(target) / row.split(",")[0]
                 for row in record.read_text(encoding="utf-8").splitlines() if row]
        for path in files:
            if path.is_file() or path.is_symlink():
                path.unlink()
        for folder in sorted({p.parent for p in files}, key=lambda p: len(p.parts),
                             reverse=True):
            _remove_empty_up_to(folder, Path(target))
        if info.exists():
            shutil.rmtree(info)
        removed.append(info.name[:-len(".dist-info")])
    return removed


def _normal(name):
    return name.lower().replace("-", "_").replace(".", "_")


def _remove_empty_up_to(folder, top):
    while folder != top and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def has_nvidia_gpu(run=subprocess.run) -> bool:
    try:
        proc = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0 and "GPU" in proc.stdout


def pip_command(python, target, level, constraints_file, gpu=False) -> list:
    """The pip call (a fixed argument list) that installs ``level`` into ``target``."""
    if level not in PACKAGES:
        raise ValueError(f"level {level!r}: choose {', '.join(LEVELS)}")
    command = [str(python), "-m", "pip", "install", "--target", str(target),
               "--upgrade", "--no-input", "--disable-pip-version-check",
               "--no-warn-script-location", "-c", str(constraints_file)]
    if level == TRAINING:
        command += ["--extra-index-url", TORCH_INDEX["cuda" if gpu else "cpu"]]
    return command + PACKAGES[level]


def prepare(profile_dir, level, gpu=None):
    """(command, target folder, constraints file) for installing ``level`` into the
    profile; writes the constraints file into the target folder."""
    target = dependency_folder(profile_dir)
    target.mkdir(parents=True, exist_ok=True)
    constraints = target / "constraints.txt"
    constraints.write_text("\n".join(loaded_pins()) + "\n", encoding="utf-8")
    gpu = has_nvidia_gpu() if gpu is None else gpu
    return pip_command(find_python(), target, level, constraints, gpu), target, \
        constraints


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m ugs_plugin.installer",
        description="Install the plugin's deep-learning packages into a QGIS profile.")
    parser.add_argument("--profile", required=True, help="the QGIS profile folder")
    parser.add_argument("--level", choices=LEVELS, default=MAPPING)
    parser.add_argument("--cpu", action="store_true", help="CPU build of PyTorch even "
                        "with an NVIDIA GPU")
    args = parser.parse_args(argv)
    command, target, constraints = prepare(args.profile, args.level,
                                           gpu=False if args.cpu else None)
    print(" ".join(command), flush=True)
    code = subprocess.run(command).returncode  # noqa: S603 - fixed argument list
    if code != 0:
        print(f"pip failed ({code})")
        return code
    for name in prune_pinned(target, constraints):
        print(f"removed the copy of {name}: QGIS's own is the one used")
    print(f"installed into {target}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
