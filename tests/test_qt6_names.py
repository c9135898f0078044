"""Ready for QGIS 4 (Qt6), which cannot run here: every Qt name the plugin uses is
checked against the real PyQt6 (from PyPI, in .venv/pyqt6, offscreen), every QGIS
enum resolves by its QGIS 3.36+ spelling on a QGIS that has it, and the metadata
lets QGIS 4 offer the plugin."""
import configparser
import os
import subprocess

import pytest

from conftest import REPO

PYQT6 = REPO / ".venv" / "pyqt6" / "bin" / "python"
CHECK = REPO / "scripts" / "qt6_names.py"


def qt6_check(*paths):
    if not PYQT6.exists():
        pytest.fail(f"{PYQT6} is missing: scripts/setup.sh installs PyQt6 there")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([str(PYQT6), str(CHECK), *map(str, paths)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_qt_name_the_plugin_uses_exists_in_pyqt6():
    proc = qt6_check()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checked = int(proc.stdout.split(" files checked")[0].split()[-1])
    assert checked >= 20 and ": 0 problem(s)" in proc.stdout


def test_qt5_only_spellings_fail_the_check(tmp_path):
    source = tmp_path / "qt5_style.py"
    source.write_text(
        "from qgis.PyQt.QtCore import Qt, QProcess\n"
        "from qgis.PyQt.QtWidgets import QAction, QDialogButtonBox\n"
        "buttons = QDialogButtonBox(QDialogButtonBox.Close)\n"
        "align = Qt.AlignCenter\n"
        "mode = QProcess.MergedChannels\n"
        "fine = Qt.AlignmentFlag.AlignCenter\n"
        "def show(dialog):\n"
        "    dialog.exec_()\n"
        "from processing.gui.wrappers import WidgetWrapper\n")
    proc = qt6_check(source)
    assert proc.returncode == 1
    for expected in ("QAction is not in PyQt6.QtWidgets", "QDialogButtonBox.Close",
                     "Qt.AlignCenter", "QProcess.MergedChannels", "exec_(",
                     "processing.gui.wrappers"):
        assert expected in proc.stdout, (expected, proc.stdout)
    assert "Qt.AlignmentFlag.AlignCenter" not in proc.stdout
    assert ": 6 problem(s)" in proc.stdout


def test_a_moved_class_with_an_import_fallback_passes(tmp_path):
    source = tmp_path / "moved.py"
    source.write_text("try:\n    from qgis.PyQt.QtGui import QAction\n"
                      "except ImportError:\n    from qgis.PyQt.QtWidgets import QAction\n"
                      "from qgis.PyQt.QtCore import QVariant\n"
                      "kind = QVariant.Type.Int  # qt5-only\n")
    proc = qt6_check(source)
    assert proc.returncode == 0, proc.stdout


def test_qgis_enums_take_the_new_spelling_where_qgis_has_it(qgis_app):
    from qgis.core import Qgis, QgsProcessing

    from ugs_plugin import qgis_compat
    if Qgis.versionInt() >= 33600:
        old = sorted(name for name, how in qgis_compat.RESOLVED.items() if how != "new")
        assert old == [], f"QGIS {Qgis.QGIS_VERSION} still needed the 3.22 names: {old}"
    else:
        assert qgis_compat.RESOLVED["Qgis.ProcessingSourceType.VectorPolygon"] == "old"
    assert int(qgis_compat.SOURCE_VECTOR_POLYGON) == \
        int(QgsProcessing.SourceType.TypeVectorPolygon)
    field = qgis_compat.field("share", "double")
    assert field.isNumeric() and field.name() == "share"
    assert not qgis_compat.field("zone", "string").isNumeric()


def test_metadata_lets_qgis_4_offer_the_plugin():
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(REPO / "metadata.txt", encoding="utf-8")
    general = metadata["general"]
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["qgisMaximumVersion"] == "4.99"
    assert general["supportsQt6"].lower() == "true"


def test_qgis_enums_are_taken_only_through_qgis_compat():
    """The 3.22 spellings (QgsProcessing.TypeVectorPolygon, a parameter class's
    .Double, QgsWkbTypes.PolygonGeometry…) may be gone in QGIS 4: only
    ugs_plugin/qgis_compat.py names them, as the fallback."""
    import re
    old = re.compile(r"\b(QgsProcessing\.Type\w+|QgsWkbTypes\.\w+\b(?!\s*\()"
                     r"|QgsMapLayerType\.\w+|\w+\.(Integer|Double|FlagAdvanced|Folder"
                     r"|Numeric)\b|QgsProcessingParameter\w+\.[A-Z]\w+\b(?!\s*\())")
    found = []
    for path in sorted((REPO / "ugs_plugin").rglob("*.py")):
        if path.name == "qgis_compat.py" or "core" in path.parts:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if old.search(code) and "qgis_compat." not in code:
                found.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert found == []
