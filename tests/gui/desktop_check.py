"""Run inside QGIS desktop (qgis --code): exercise the plugin's GUI, write JSON to
$UGS_GUI_RESULT, quit. Driven by tests/test_gui.py."""
import json
import os
import traceback

import qgis.utils
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication
from qgis.utils import iface, plugins

RESULT = {}
OUT = os.environ["UGS_GUI_RESULT"]


def open_dialog():
    return [w for w in QApplication.topLevelWidgets()
            if w.isVisible() and hasattr(w, "algorithm")][0]


def capture(key):
    def read():
        dialog = open_dialog()
        params = dialog.mainWidget().createProcessingParameters()
        RESULT[key] = {"algorithm": dialog.algorithm().id(),
                       "params": {k: getattr(v, "name", lambda: str(v))()
                                  for k, v in params.items()
                                  if k in ("INPUT", "REFERENCE")}}
        dialog.reject()
    return read


def run():
    try:
        bar = iface.pluginToolBar()
        RESULT["toolbar"] = [a.text() for a in bar.actions()]
        registry = QgsApplication.processingRegistry()
        RESULT["algorithms"] = sorted(a.id() for a in registry.algorithms()
                                      if a.provider().id() == "ugs")
        raster = QgsRasterLayer(os.environ["UGS_GUI_RASTER"], "class_map")
        reference = QgsVectorLayer(os.environ["UGS_GUI_REFERENCE"], "reference")
        QgsProject.instance().addMapLayers([raster, reference])
        RESULT["layer_ids"] = {"raster": raster.id(), "reference": reference.id()}
        iface.setActiveLayer(raster)
        QTimer.singleShot(1500, capture("extract_dialog"))
        plugins["ugs"].open_extraction_dialog()
        iface.setActiveLayer(reference)
        QTimer.singleShot(1500, capture("assess_dialog"))
        plugins["ugs"].open_assessment_dialog()
        RESULT["unloaded"] = qgis.utils.unloadPlugin("ugs")
        RESULT["provider_after_unload"] = bool(registry.providerById("ugs"))
        RESULT["toolbar_after_unload"] = [a.text() for a in bar.actions()]
    except Exception:
        RESULT["error"] = traceback.format_exc()
        for w in QApplication.topLevelWidgets():
            if w.isVisible() and hasattr(w, "algorithm"):
                w.reject()
    with open(OUT, "w") as f:
        json.dump(RESULT, f)
    QgsApplication.exit(0)


QTimer.singleShot(2000, run)
