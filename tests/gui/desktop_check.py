"""Run inside QGIS desktop (qgis --code): exercise the plugin's GUI, write JSON to
$UGS_GUI_RESULT, quit. Driven by tests/test_gui.py."""
import json
import os
import shutil
import traceback

import qgis.utils
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt, QTimer
from qgis.PyQt.QtGui import QKeyEvent
from qgis.PyQt.QtWidgets import QApplication
from qgis.utils import iface, plugins

RESULT = {}
OUT = os.environ["UGS_GUI_RESULT"]


def open_dialog():
    return [w for w in QApplication.topLevelWidgets()
            if w.isVisible() and hasattr(w, "algorithm")][0]


def capture(key, extra=()):
    def read():
        dialog = open_dialog()
        params = dialog.mainWidget().createProcessingParameters()
        RESULT[key] = {"algorithm": dialog.algorithm().id(),
                       "params": {k: getattr(v, "name", lambda: str(v))()
                                  for k, v in params.items()
                                  if k in ("INPUT", "REFERENCE", "REGION", *extra)}}
        dialog.reject()
    return read


def mouse(tool, kind, x, y, button=Qt.MouseButton.LeftButton):
    canvas = iface.mapCanvas()
    event = QgsMapMouseEvent(canvas, kind, QPoint(x, y), button, button, Qt.KeyboardModifier.NoModifier)
    handler = {QEvent.Type.MouseButtonPress: tool.canvasPressEvent,
               QEvent.Type.MouseMove: tool.canvasMoveEvent,
               QEvent.Type.MouseButtonRelease: tool.canvasReleaseEvent}[kind]
    handler(event)
    point = canvas.getCoordinateTransform().toMapCoordinates(x, y)
    return point.x(), point.y()


def region_state():
    layers = QgsProject.instance().mapLayersByName("Adaptation region")
    features = list(layers[0].getFeatures()) if layers else []
    return {"layers": len(layers), "features": len(features),
            "crs": layers[0].crs().authid() if layers else None,
            "bbox": features[0].geometry().boundingBox().toString(2) if features else None,
            "vertices": (len(list(features[0].geometry().vertices()))
                         if features else 0),
            "id": layers[0].id() if layers else None}


def draw_regions(raster):
    """Drag a rectangle, draw a polygon, cancel one with Esc: the real tool on the
    real canvas, fed the events a user's mouse would send."""
    from qgis.core import QgsRectangle
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(raster.crs())
    canvas.setExtent(raster.extent())
    canvas.refresh()
    plugin = plugins["ugs"]
    RESULT["canvas_size"] = [canvas.width(), canvas.height()]
    plugin.region_action.trigger()
    tool = plugin.region_tool
    RESULT["tool_active"] = canvas.mapTool() is tool
    start = mouse(tool, QEvent.Type.MouseButtonPress, 100, 100)
    mouse(tool, QEvent.Type.MouseMove, 200, 150)
    QTimer.singleShot(1500, capture("adapt_dialog_rectangle"))
    end = mouse(tool, QEvent.Type.MouseButtonRelease, 300, 250)
    RESULT["rectangle_expected"] = QgsRectangle(*start, *end).toString(2)
    RESULT["after_rectangle"] = region_state()
    RESULT["tool_active_after_region"] = canvas.mapTool() is tool

    plugin.region_action.trigger()
    corners = [mouse(tool, QEvent.Type.MouseButtonPress, x, y) and
               mouse(tool, QEvent.Type.MouseButtonRelease, x, y)
               for x, y in ((120, 120), (320, 140), (260, 300), (140, 260))]
    QTimer.singleShot(1500, capture("adapt_dialog_polygon"))
    mouse(tool, QEvent.Type.MouseButtonRelease, 140, 260, Qt.MouseButton.RightButton)
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    RESULT["polygon_expected"] = QgsRectangle(min(xs), min(ys), max(xs), max(ys)
                                              ).toString(2)
    RESULT["after_polygon"] = region_state()

    # A double-click closes the polygon too (Qt: press, release, double-click, release).
    plugin.region_action.trigger()
    for x, y in ((110, 110), (330, 130), (200, 280)):
        mouse(tool, QEvent.Type.MouseButtonPress, x, y)
        mouse(tool, QEvent.Type.MouseButtonRelease, x, y)
    QTimer.singleShot(1500, capture("adapt_dialog_double_click"))
    tool.canvasDoubleClickEvent(QgsMapMouseEvent(
        canvas, QEvent.Type.MouseButtonDblClick, QPoint(200, 280), Qt.MouseButton.LeftButton,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    mouse(tool, QEvent.Type.MouseButtonRelease, 200, 280)
    RESULT["after_double_click"] = region_state()
    RESULT["stray_vertices"] = len(tool.vertices)

    plugin.region_action.trigger()
    mouse(tool, QEvent.Type.MouseButtonPress, 50, 50)
    mouse(tool, QEvent.Type.MouseButtonRelease, 50, 50)
    mouse(tool, QEvent.Type.MouseButtonPress, 250, 60)
    mouse(tool, QEvent.Type.MouseButtonRelease, 250, 60)
    tool.keyPressEvent(QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier))
    RESULT["after_escape"] = region_state()
    RESULT["vertices_after_escape"] = len(tool.vertices)
    RESULT["tool_active_after_escape"] = canvas.mapTool() is tool
    RESULT["band_points_after_escape"] = tool.band.numberOfVertices()
    RESULT["dialogs_after_escape"] = len([w for w in QApplication.topLevelWidgets()
                                          if w.isVisible() and hasattr(w, "algorithm")])


def mark_references(raster):
    """Mark green (drag) and not green (click a polygon), undo one: each shape goes
    into the project folder's reference GeoPackage, created on the first mark."""
    from qgis.core import QgsVectorLayer
    canvas = iface.mapCanvas()
    plugin = plugins["ugs"]
    iface.setActiveLayer(raster)
    QgsProject.instance().setPresetHomePath(os.environ["UGS_GUI_WORKDIR"])
    plugin.mark_actions[True].trigger()
    tool = plugin.mark_tool
    RESULT["mark_tool_active"] = canvas.mapTool() is tool
    mouse(tool, QEvent.Type.MouseButtonPress, 100, 100)
    mouse(tool, QEvent.Type.MouseMove, 150, 140)
    mouse(tool, QEvent.Type.MouseButtonRelease, 160, 150)
    mouse(tool, QEvent.Type.MouseButtonPress, 200, 100)   # a second green square
    mouse(tool, QEvent.Type.MouseMove, 230, 120)
    mouse(tool, QEvent.Type.MouseButtonRelease, 240, 130)
    RESULT["mark_tool_stays_on"] = canvas.mapTool() is tool
    plugin.mark_actions[False].trigger()
    RESULT["green_action_unchecked"] = not plugin.mark_actions[True].isChecked()
    for x, y in ((300, 300), (360, 300), (340, 360)):
        mouse(tool, QEvent.Type.MouseButtonPress, x, y)
        mouse(tool, QEvent.Type.MouseButtonRelease, x, y)
    mouse(tool, QEvent.Type.MouseButtonRelease, 340, 360, Qt.MouseButton.RightButton)
    layers = QgsProject.instance().mapLayersByName("UGS reference")
    RESULT["reference_layers"] = len(layers)
    layer = layers[0]
    RESULT["reference_source"] = layer.source().split("|")[0]
    RESULT["reference_crs"] = layer.crs().authid()
    RESULT["classes_after_marking"] = sorted(f["class"] for f in layer.getFeatures())
    RESULT["undo"] = plugin.undo_mark()
    reread = QgsVectorLayer(RESULT["reference_source"], "reread", "ogr")
    RESULT["classes_on_disk_after_undo"] = sorted(f["class"] for f in reread.getFeatures())
    RESULT["reference_id"] = layer.id()
    tool.keyPressEvent(QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier))
    RESULT["mark_tool_after_escape"] = canvas.mapTool() is tool
    mark_a_suggestion(raster, layer)
    # A round done before: the button starts the next one from its model.
    work = os.environ["UGS_GUI_WORKDIR"]
    shutil.copy(os.path.join(os.path.dirname(os.environ["UGS_GUI_RASTER"]), "..", "..",
                             "models", "ugsnet_light.pt"),
                os.path.join(work, "ugs_round_1.pt"))
    QTimer.singleShot(1500, capture("finetune_dialog", ("MODEL", "OUTPUT")))
    plugin.open_finetune_dialog()


def mark_a_suggestion(raster, reference):
    """Suggested squares on the canvas: one click inside one, with Mark green space
    on, adds that whole square to the reference layer and gives it its class."""
    import processing
    from qgis.core import QgsPointXY, QgsVectorLayer
    canvas = iface.mapCanvas()
    plugin = plugins["ugs"]
    out = os.path.join(os.environ["UGS_GUI_WORKDIR"], "places.gpkg")
    processing.run("ugs:suggestplacestomark", {"INPUT": raster.id(), "COUNT": 3,
                                               "DEVICE": 1, "OUTPUT": out})
    places = QgsVectorLayer(out, "Places to mark", "ogr")
    QgsProject.instance().addMapLayer(places)
    first = next(places.getFeatures())
    canvas.setExtent(first.geometry().boundingBox().buffered(200))
    canvas.refresh()
    QApplication.processEvents()
    centre = first.geometry().centroid().asPoint()
    pixel = canvas.getCoordinateTransform().transform(QgsPointXY(centre))
    before = reference.featureCount()
    iface.setActiveLayer(reference)
    plugin.mark_actions[True].trigger()
    tool = plugin.mark_tool
    mouse(tool, QEvent.Type.MouseButtonPress, int(pixel.x()), int(pixel.y()))
    mouse(tool, QEvent.Type.MouseButtonRelease, int(pixel.x()), int(pixel.y()))
    added = [f for f in reference.getFeatures()][before:]
    RESULT["suggestion_mark"] = {
        "added": reference.featureCount() - before,
        "same_square": bool(added) and added[-1].geometry().symDifference(
            first.geometry()).area() < 0.01 * first.geometry().area(),
        "class": added[-1]["class"] if added else None,
        "suggestion_class": next(places.getFeatures())["class"],
        "vertices_left": len(tool.vertices)}
    # A check square (placed at random): its mark carries check 1 into the reference.
    check = next(f for f in places.getFeatures() if f["check"] == 1)
    canvas.setExtent(check.geometry().boundingBox().buffered(200))
    canvas.refresh()
    QApplication.processEvents()
    pixel = canvas.getCoordinateTransform().transform(
        QgsPointXY(check.geometry().centroid().asPoint()))
    plugin.mark_actions[False].trigger()
    mouse(tool, QEvent.Type.MouseButtonPress, int(pixel.x()), int(pixel.y()))
    mouse(tool, QEvent.Type.MouseButtonRelease, int(pixel.x()), int(pixel.y()))
    last = list(reference.getFeatures())[-1]
    RESULT["check_mark"] = {"class": last["class"], "check": last["check"],
                            "marks": [f["check"] for f in reference.getFeatures()]}
    tool.keyPressEvent(QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Escape,
                                 Qt.KeyboardModifier.NoModifier))


def check_dependency_tools():
    """The installer dialog opens with its levels (nothing installed here), OpenVINO
    ticked where this CPU's family maps faster with it, and the diagnostics report
    reaches the clipboard."""
    import importlib
    plugin = plugins["ugs"]
    package = type(plugin).__module__.rsplit(".", 1)[0]
    dialog_module = importlib.import_module(package + ".gui.install_dialog")
    dialog = dialog_module.InstallDependenciesDialog(
        iface.mainWindow(), profile_dir=os.environ["UGS_GUI_WORKDIR"])
    dialog.show()
    QApplication.processEvents()
    RESULT["install_dialog"] = {"title": dialog.windowTitle(),
                                "levels": [dialog.mapping.text(), dialog.training.text(),
                                           dialog.fast.text()],
                                "mapping_default": dialog.mapping.isChecked(),
                                "fast_default": dialog.fast.isChecked()}
    dialog.reject()
    RESULT["install_action"] = plugin.install_action.text()
    report = plugin.copy_diagnostics()
    RESULT["diagnostics_on_clipboard"] = QApplication.clipboard().text() == report
    RESULT["diagnostics_first_line"] = report.splitlines()[1]


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
        draw_regions(raster)
        mark_references(raster)
        check_dependency_tools()
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
