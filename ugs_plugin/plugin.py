"""QGIS plugin object: registers the Processing provider and the toolbar actions."""
from __future__ import annotations

from qgis.core import QgsApplication

from . import PLUGIN_DIR, qgis_compat
from .processing.common import find_engine_packages
from .processing.provider import UgsProvider


class UgsPlugin:
    def __init__(self, iface):
        self.iface = iface  # None under qgis_process
        self.provider = None
        self.actions = []
        self.region_tool = None
        self.previous_tool = None
        self.mark_tool = None
        self.mark_green = True
        self.marks = []  # (layer id, feature id) of the marks, for undo
        self.snapped = None  # the suggested square the next mark takes, if any

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        find_engine_packages()
        self.provider = UgsProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        if self.iface is None:
            return
        self.show_dependency_state()
        from qgis.PyQt.QtGui import QIcon
        QAction = qgis_compat.qaction_class()
        action = QAction(QIcon(str(PLUGIN_DIR / "resources" / "icon.svg")),
                         "Extract Urban Green Space", self.iface.mainWindow())
        action.triggered.connect(self.open_extraction_dialog)
        assess = QAction(QIcon(str(PLUGIN_DIR / "resources" / "assess.svg")),
                         "Assess accuracy", self.iface.mainWindow())
        assess.triggered.connect(self.open_assessment_dialog)
        region = QAction(QIcon(str(PLUGIN_DIR / "resources" / "region.svg")),
                         "Draw adaptation region", self.iface.mainWindow())
        region.setCheckable(True)
        region.setToolTip("Draw adaptation region: drag a rectangle, or click polygon "
                          "corners and right-click to close; Esc cancels. Then adapt "
                          "the model to the imagery inside it.")
        region.triggered.connect(self.start_region_tool)
        self.region_action = region
        mark_green = QAction(QIcon(str(PLUGIN_DIR / "resources" / "mark_green.svg")),
                             "Mark green space", self.iface.mainWindow())
        mark_other = QAction(QIcon(str(PLUGIN_DIR / "resources" / "mark_other.svg")),
                             "Mark not green space", self.iface.mainWindow())
        for mark, green in ((mark_green, True), (mark_other, False)):
            mark.setCheckable(True)
            mark.setToolTip(f"{mark.text()}: drag a rectangle, or click polygon corners "
                            "and right-click to close; each shape goes into the "
                            "reference layer with its class. Esc stops.")
            mark.triggered.connect(lambda checked, green=green:
                                   self.start_mark_tool(green, checked))
        undo = QAction(QIcon(str(PLUGIN_DIR / "resources" / "mark_undo.svg")),
                       "Undo last mark", self.iface.mainWindow())
        undo.triggered.connect(self.undo_mark)
        finetune = QAction(QIcon(str(PLUGIN_DIR / "resources" / "finetune.svg")),
                           "Fine-tune model on reference polygons",
                           self.iface.mainWindow())
        finetune.triggered.connect(self.open_finetune_dialog)
        self.mark_actions = {True: mark_green, False: mark_other}
        self.undo_action = undo
        for a in (action, assess, region, mark_green, mark_other, undo, finetune):
            self.iface.addToolBarIcon(a)
            self.iface.addPluginToRasterMenu("Urban Green Space", a)
            self.actions.append(a)
        install = QAction("Install deep-learning dependencies…", self.iface.mainWindow())
        install.triggered.connect(self.open_install_dialog)
        self.iface.addPluginToRasterMenu("Urban Green Space", install)
        self.actions.append(install)
        self.install_action = install
        diagnostics = QAction("Copy diagnostics report", self.iface.mainWindow())
        diagnostics.triggered.connect(self.copy_diagnostics)
        self.iface.addPluginToRasterMenu("Urban Green Space", diagnostics)
        self.actions.append(diagnostics)

    def show_dependency_state(self):
        """Without an engine the plugin still loads: a message with an Install button
        says what is missing."""
        from qgis.PyQt.QtWidgets import QPushButton
        has_torch, _, has_onnxruntime, _ = find_engine_packages()
        self.dependency_message = None
        if has_torch or has_onnxruntime:
            return
        text = ("Mapping needs ONNX Runtime (or PyTorch), which this QGIS does not "
                "have yet.")
        bar = self.iface.messageBar()
        widget = bar.createMessage("Urban Green Space", text)
        button = QPushButton("Install deep-learning dependencies…")
        button.clicked.connect(self.open_install_dialog)
        widget.layout().addWidget(button)
        bar.pushWidget(widget, qgis_compat.MESSAGE_WARNING)
        self.dependency_message = text

    def copy_diagnostics(self):
        """The report on the clipboard, for a bug report."""
        from qgis.core import Qgis
        from qgis.PyQt.QtWidgets import QApplication

        from .diagnostics import report
        text = report(Qgis.QGIS_VERSION, QgsApplication.qgisSettingsDirPath())
        QApplication.clipboard().setText(text)
        self.iface.messageBar().pushInfo("Urban Green Space", "Diagnostics report "
                                         "copied to the clipboard.")
        return text

    def open_install_dialog(self):
        from .gui.install_dialog import InstallDependenciesDialog
        InstallDependenciesDialog(self.iface.mainWindow()).exec()

    def open_extraction_dialog(self):
        import processing
        params = {}
        layer = self.iface.activeLayer()
        if layer is not None and layer.type() == qgis_compat.LAYER_RASTER:
            params["INPUT"] = layer
        processing.execAlgorithmDialog("ugs:extracturbangreenspace", params)

    def open_assessment_dialog(self):
        """Pre-filled with the active class raster and the active polygon layer (or
        the first of each kind in the project)."""
        import processing
        from qgis.core import QgsProject
        active = self.iface.activeLayer()
        layers = [active] + list(QgsProject.instance().mapLayers().values())
        params = {}
        for layer in layers:
            if layer is None:
                continue
            if "INPUT" not in params and layer.type() == qgis_compat.LAYER_RASTER:
                params["INPUT"] = layer
            if "REFERENCE" not in params and layer.type() == qgis_compat.LAYER_VECTOR \
                    and layer.geometryType() in (qgis_compat.GEOMETRY_POLYGON,
                                                 qgis_compat.GEOMETRY_POINT):
                params["REFERENCE"] = layer
        processing.execAlgorithmDialog("ugs:assessaccuracy", params)

    def start_region_tool(self, checked=True):
        from .gui.region_tool import RegionMapTool
        canvas = self.iface.mapCanvas()
        if not checked:
            if self.region_tool is not None and canvas.mapTool() is self.region_tool:
                canvas.unsetMapTool(self.region_tool)
            return
        if self.region_tool is None:
            self.region_tool = RegionMapTool(canvas)
            self.region_tool.setAction(self.region_action)
            self.region_tool.regionDrawn.connect(self.region_drawn)
            self.region_tool.canceled.connect(self.stop_region_tool)
        self.previous_tool = canvas.mapTool()
        canvas.setMapTool(self.region_tool)

    def stop_region_tool(self):
        canvas = self.iface.mapCanvas()
        if self.previous_tool is not None and self.previous_tool is not self.region_tool:
            canvas.setMapTool(self.previous_tool)
        elif self.region_tool is not None:
            canvas.unsetMapTool(self.region_tool)

    def region_drawn(self, geometry):
        """Keep the region as a temporary layer and open the adaptation pre-filled."""
        from .gui.region_tool import add_region
        canvas = self.iface.mapCanvas()
        layer = add_region(geometry, canvas.mapSettings().destinationCrs())
        self.stop_region_tool()
        self.open_adaptation_dialog(layer)

    def open_adaptation_dialog(self, region_layer):
        """Pre-filled with the region and the raster under it (the active one if it
        covers the region)."""
        import processing
        params = {"REGION": region_layer.id(), "OUTPUT_ADAPTED": "TEMPORARY_OUTPUT",
                  "OUTPUT_BASE": "TEMPORARY_OUTPUT"}
        raster = self.raster_under(region_layer.crs(), region_layer.extent())
        if raster is not None:
            params["INPUT"] = raster
        processing.execAlgorithmDialog("ugs:adapttoregion", params)

    # ------------------------------------------------------------ reference marks

    def start_mark_tool(self, green, checked=True):
        from qgis.PyQt.QtGui import QColor

        from .gui.region_tool import RegionMapTool
        canvas = self.iface.mapCanvas()
        self.mark_actions[not green].setChecked(False)
        if not checked:
            if self.mark_tool is not None and canvas.mapTool() is self.mark_tool:
                canvas.unsetMapTool(self.mark_tool)
            return
        if self.mark_tool is None:
            self.mark_tool = RegionMapTool(canvas)
            self.mark_tool.snap_to = self.suggested_square_at
            self.mark_tool.regionDrawn.connect(self.mark_drawn)
            self.mark_tool.canceled.connect(
                lambda: canvas.unsetMapTool(self.mark_tool))
        self.mark_green = green
        colour = QColor(56, 168, 0) if green else QColor(120, 120, 120)
        self.mark_tool.band.setStrokeColor(colour)
        colour.setAlpha(90)
        self.mark_tool.band.setColor(colour)
        self.mark_tool.setAction(self.mark_actions[green])
        self.mark_actions[green].setChecked(True)
        if canvas.mapTool() is not self.mark_tool:
            canvas.setMapTool(self.mark_tool)

    def suggested_square_at(self, point):
        """The suggested square (ugs:suggestplacestomark) under a click, which the
        mark then takes whole; None elsewhere."""
        from qgis.core import QgsCoordinateTransform, QgsProject

        from .gui.reference_marks import suggestion_at
        project = QgsProject.instance()
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        found = suggestion_at(project, point, canvas_crs)
        self.snapped = found
        if found is None:
            return None
        layer, feature = found
        geometry = feature.geometry()
        if layer.crs() != canvas_crs:
            geometry.transform(QgsCoordinateTransform(layer.crs(), canvas_crs, project))
        return geometry

    def mark_drawn(self, geometry):
        """Write the shape into the reference layer (found or created) with its
        class; the tool stays on for the next shape."""
        from qgis.core import QgsProject

        from .gui.reference_marks import (
            add_mark,
            find_reference_layer,
            is_check_square,
            open_or_create_reference_layer,
        )
        project = QgsProject.instance()
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        snapped, self.snapped = self.snapped, None
        check = snapped is not None and is_check_square(snapped[1])
        try:
            layer = find_reference_layer(project, self.iface.activeLayer())
            if layer is None:
                layer = open_or_create_reference_layer(project, canvas_crs)
            fid = add_mark(layer, geometry, canvas_crs, self.mark_green, project,
                           check=check)
        except OSError as err:
            self.iface.messageBar().pushCritical("Urban Green Space", str(err))
            return
        self.marks.append((layer.id(), fid))
        if snapped is not None:
            from .gui.reference_marks import settle_suggestion
            settle_suggestion(*snapped, self.mark_green)
        what = "green space" if self.mark_green else "not green space"
        if check:
            what += " (a check mark: held out, never trained on)"
        self.iface.messageBar().pushInfo(
            "Urban Green Space", f"marked {what} in {layer.name()} "
            f"({layer.featureCount()} reference polygons)")

    def undo_mark(self):
        from qgis.core import QgsProject

        from .gui.reference_marks import remove_mark
        while self.marks:
            layer_id, fid = self.marks.pop()
            layer = QgsProject.instance().mapLayer(layer_id)
            if layer is not None and remove_mark(layer, fid):
                return True
        return False

    def open_finetune_dialog(self):
        """Pre-filled with the reference layer and the raster under it, as the next
        round: from the last round's model (all marks so far) to the next round's
        file, with the round's before/after maps set to load."""
        import processing
        from qgis.core import QgsProject

        from .gui.reference_marks import find_reference_layer, rounds
        project = QgsProject.instance()
        params = {"OUTPUT_MAP": "TEMPORARY_OUTPUT", "OUTPUT_BASE_MAP": "TEMPORARY_OUTPUT"}
        last, following = rounds(project)
        params["OUTPUT"] = str(following)
        if last is not None:
            params["MODEL"] = str(last)
        reference = find_reference_layer(project, self.iface.activeLayer())
        if reference is not None:
            params["REFERENCE"] = reference.id()
            raster = self.raster_under(reference.crs(), reference.extent())
            if raster is not None:
                params["INPUT"] = raster
        processing.execAlgorithmDialog("ugs:finetuneonreference", params)

    def raster_under(self, crs, extent):
        """The active raster, or the topmost one, that overlaps ``extent``."""
        from qgis.core import QgsCoordinateTransform, QgsCsException, QgsProject
        project = QgsProject.instance()
        for layer in [self.iface.activeLayer()] + project.layerTreeRoot().layerOrder():
            if layer is None or layer.type() != qgis_compat.LAYER_RASTER:
                continue
            to_layer = QgsCoordinateTransform(crs, layer.crs(), project)
            try:
                if layer.extent().intersects(to_layer.transformBoundingBox(extent)):
                    return layer
            except QgsCsException:  # cannot be placed on this layer
                continue
        return None

    def unload(self):
        if self.mark_tool is not None:
            self.iface.mapCanvas().unsetMapTool(self.mark_tool)
            self.mark_tool.band.reset()
            self.mark_tool = None
        if self.region_tool is not None:
            self.iface.mapCanvas().unsetMapTool(self.region_tool)
            self.region_tool.band.reset()
            self.region_tool = None
        for action in self.actions:
            self.iface.removeToolBarIcon(action)
            self.iface.removePluginRasterMenu("Urban Green Space", action)
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
