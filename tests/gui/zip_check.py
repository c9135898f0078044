"""Run inside a real QGIS desktop (``qgis --code``) whose profile holds the plugin
unzipped from its package. Without dependencies: the plugin loads, the provider is
there, a message offers the installer. With them: the extraction through Processing
loads a styled map; the canvas is saved as an image; the plugin reloads cleanly.
Writes its findings as JSON to $UGS_GUI_RESULT."""
import json
import os
import traceback

import qgis.utils
from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QLabel
from qgis.utils import iface, plugins

OUT = os.environ["UGS_GUI_RESULT"]
RESULT = {}


def message_texts():
    texts = []
    for item in iface.messageBar().items():
        texts += [w.text() for w in item.findChildren(QLabel)]
        texts.append(item.text() if hasattr(item, "text") else "")
    return [t for t in texts if t]


def run():
    try:
        registry = QgsApplication.processingRegistry()
        RESULT["provider"] = registry.providerById("ugs") is not None
        RESULT["algorithms"] = len([a for a in registry.algorithms()
                                    if a.provider().id() == "ugs"])
        RESULT["plugin_dir"] = qgis.utils.pluginDirectory("ugs")
        RESULT["dependency_message"] = plugins["ugs"].dependency_message
        RESULT["messages"] = message_texts()
        if os.environ.get("UGS_GUI_MAP"):
            import processing
            out = os.environ["UGS_GUI_MAP"]
            processing.runAndLoadResults("ugs:extracturbangreenspace", {
                "INPUT": os.environ["UGS_GUI_RASTER"], "OUTPUT": out})
            layers = QgsProject.instance().mapLayers().values()
            RESULT["layers"] = {layer.name(): layer.renderer().type() for layer in layers}
            canvas = iface.mapCanvas()
            canvas.setLayers(list(layers))
            canvas.zoomToFullExtent()
            canvas.refreshAllLayers()
            QTimer.singleShot(3000, finish)
            return
    except Exception:
        RESULT["error"] = traceback.format_exc()
    finish()


def finish():
    try:
        if os.environ.get("UGS_GUI_SCREENSHOT"):
            iface.mapCanvas().saveAsImage(os.environ["UGS_GUI_SCREENSHOT"])
        RESULT["reloaded"] = qgis.utils.reloadPlugin("ugs")
        RESULT["provider_after_reload"] = QgsApplication.processingRegistry(
        ).providerById("ugs") is not None
        RESULT["unloaded"] = qgis.utils.unloadPlugin("ugs")
    except Exception:
        RESULT["error"] = traceback.format_exc()
    with open(OUT, "w") as f:
        json.dump(RESULT, f)
    QgsApplication.exit(0)


QTimer.singleShot(2000, run)
