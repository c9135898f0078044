"""A throw-away QGIS profile with this plugin enabled, for qgis_process.bin.

qgis_process loads a Python plugin only when the profile's QGIS3.ini enables it
under [PythonPlugins]; Debian's /usr/bin/qgis_process wrapper passes a flag 3.22
rejects, so qgis_process.bin is called directly.
"""
import os
import shutil
from pathlib import Path

PLUGIN_NAME = "ugs"
REPO = Path(__file__).resolve().parent.parent


def make_profile(base) -> dict:
    """Create ``base``/profiles/default with the plugin linked and enabled; return
    the environment for qgis_process.bin."""
    base = Path(base)
    profile = base / "profiles" / "default"
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / PLUGIN_NAME
    if link.is_symlink() or link.exists():
        if link.is_symlink():
            link.unlink()
        else:
            shutil.rmtree(link)
    link.symlink_to(REPO, target_is_directory=True)
    ini = profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(f"[PythonPlugins]\n{PLUGIN_NAME}=true\n", encoding="utf-8")
    env = dict(os.environ)
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(base), QT_QPA_PLATFORM="offscreen",
               XDG_RUNTIME_DIR=str(base / "runtime"))
    (base / "runtime").mkdir(mode=0o700, exist_ok=True)
    return env


def zip_profile(base, zip_path) -> tuple:
    """A fresh profile under ``base`` with the plugin unzipped from ``zip_path`` (as
    *Install from ZIP* does) and enabled; (environment for QGIS, plugins folder).
    The environment has none of this checkout's Python paths: what the plugin finds,
    it finds as a user's QGIS would."""
    import zipfile
    base = Path(base)
    profile = base / "profiles" / "default"
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    zipfile.ZipFile(zip_path).extractall(plugins)
    ini = profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(f"[PythonPlugins]\n{PLUGIN_NAME}=true\n", encoding="utf-8")
    (base / "runtime").mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("UGS_PYTHON_PATH", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(base), QT_QPA_PLATFORM="offscreen",
               XDG_RUNTIME_DIR=str(base / "runtime"))
    return env, plugins
