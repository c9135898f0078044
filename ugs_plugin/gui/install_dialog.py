"""Dialog "Install deep-learning dependencies": pip, run by QGIS's own Python, into
the profile's dependency folder, its output streamed here, cancellable."""
from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QProcess
from qgis.PyQt.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QLabel,
                                 QPlainTextEdit, QProgressBar, QRadioButton, QVBoxLayout)

from .. import installer
from ..core.config import CPU_DEFAULTS
from ..core.model.engines import cpu_family


class InstallDependenciesDialog(QDialog):
    def __init__(self, parent=None, profile_dir=None):
        super().__init__(parent)
        self.setWindowTitle("Install deep-learning dependencies")
        self.profile_dir = profile_dir or QgsApplication.qgisSettingsDirPath()
        self.process = None
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(
            "The plugin maps green space with ONNX Runtime and trains, fine-tunes and "
            "adapts models with PyTorch. They are installed for this QGIS only, into\n"
            f"{installer.dependency_folder(self.profile_dir)}\n"
            "QGIS's own packages (numpy and the others it has loaded) are pinned and "
            "never replaced."))
        self.mapping = QRadioButton("Mapping only: ONNX Runtime (about 15 MB)")
        self.training = QRadioButton("Mapping, training and adaptation: PyTorch (CPU "
                                     "build, or CUDA with an NVIDIA GPU; 200 MB to "
                                     "several GB) and ONNX Runtime")
        self.mapping.setChecked(True)
        layout.addWidget(self.mapping)
        layout.addWidget(self.training)
        family = cpu_family()
        faster = CPU_DEFAULTS.get(family, ("onnxruntime",))[0] == "openvino"
        self.fast = QCheckBox(
            "Faster mapping: OpenVINO (about 60 MB download, 180 MB installed); "
            + ("this CPU family maps 1.3 to 1.5 times as fast with it" if faster else
               "not measured faster on this CPU, for the bf16/int8 precisions on request"))
        self.fast.setChecked(faster)
        layout.addWidget(self.fast)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        layout.addWidget(self.progress)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        layout.addWidget(self.log)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.install_button = self.buttons.addButton("Install",
                                                     QDialogButtonBox.ButtonRole.AcceptRole)
        self.install_button.clicked.connect(self.install)
        self.buttons.rejected.connect(self.cancel_or_close)
        layout.addWidget(self.buttons)
        self.resize(640, 420)
        self.queue = []

    def install(self):
        levels = [installer.MAPPING] + (
            [installer.FAST] if self.fast.isChecked() else []) + (
            [installer.TRAINING] if self.training.isChecked() else [])
        try:
            self.queue = [installer.prepare(self.profile_dir, level)
                          for level in levels]
        except (OSError, ValueError) as err:
            self.log.appendPlainText(f"error: {err}")
            return
        self.install_button.setEnabled(False)
        self.progress.setRange(0, 0)  # pip gives no total: a busy bar
        self._next()

    def _next(self):
        if not self.queue:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            self.log.appendPlainText("\nDone. Restart QGIS so the plugin finds the new "
                                     "packages.")
            self.process = None
            return
        command, self.target, self.constraints = self.queue.pop(0)
        self.log.appendPlainText("$ " + " ".join(command))
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.start(command[0], command[1:])  # an argument list: no shell

    def _read(self):
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        self.log.appendPlainText(text.rstrip())

    def _finished(self, code, _status):
        if code != 0:
            self.queue = []
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.install_button.setEnabled(True)
            self.log.appendPlainText(f"\npip stopped with exit code {code}; nothing "
                                     "else was changed. The log above says why.")
            self.process = None
            return
        for name in installer.prune_pinned(self.target, self.constraints):
            self.log.appendPlainText(f"removed the copy of {name}: QGIS's own is the one "
                                     "used")
        self._next()

    def cancel_or_close(self):
        if self.process is not None:
            self.queue = []
            self.process.kill()
            self.log.appendPlainText("\ncancelled")
            return
        self.reject()
