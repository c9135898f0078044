"""The plugin's settings page (Settings > Options > Processing > Providers > Urban
Green Space): default device, default model, CPU threads, dependency folder. The
algorithms read them as their defaults; the engine reads the threads."""
from __future__ import annotations

import os

from ..core.config import DEVICES

DEVICE, MODEL, THREADS, FOLDER = ("UGS_DEFAULT_DEVICE", "UGS_DEFAULT_MODEL",
                                  "UGS_THREADS", "UGS_DEPENDENCY_FOLDER")


def _config():
    try:
        from processing.core.ProcessingConfig import ProcessingConfig, Setting
    except ImportError:  # Processing's Python plugin is not loaded
        return None, None
    return ProcessingConfig, Setting


def register(provider):
    config, setting = _config()
    if config is None:
        return
    group = provider.name()
    config.settingIcons[group] = provider.icon()
    config.addSetting(setting(group, DEVICE, "Default device", "auto",
                              valuetype=setting.SELECTION, options=list(DEVICES)))
    config.addSetting(setting(group, MODEL, "Default model file (empty = the bundled "
                              "model)", "", valuetype=setting.FILE))
    config.addSetting(setting(group, THREADS, "CPU threads for mapping (0 = all "
                              "cores)", 0, valuetype=setting.INT))
    config.addSetting(setting(group, FOLDER, "Python dependency folder (searched for "
                              "ONNX Runtime and PyTorch)", "",
                              valuetype=setting.FOLDER))
    config.readSettings()


def unregister():
    config, _ = _config()
    if config is not None:
        for name in (DEVICE, MODEL, THREADS, FOLDER):
            config.removeSetting(name)


def value(name, default=None):
    config, _ = _config()
    if config is None:
        return default
    found = config.getSetting(name, readable=True)  # selections: the text
    return default if found in (None, "") else found


def default_device_index() -> int:
    device = value(DEVICE, "auto")
    return DEVICES.index(device) if device in DEVICES else 0


def apply_threads():
    """The threads setting, for the engine (core reads UGS_THREADS)."""
    threads = value(THREADS, 0)
    try:
        threads = int(threads)
    except (TypeError, ValueError):
        threads = 0
    if threads > 0:
        os.environ["UGS_THREADS"] = str(threads)
    else:
        os.environ.pop("UGS_THREADS", None)
