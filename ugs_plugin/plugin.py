"""QGIS plugin object: registers the Processing provider and the toolbar action."""
from __future__ import annotations

from qgis.core import QgsApplication, QgsMapLayerType, QgsSettings

from . import PLUGIN_DIR
from .dependencies import SETTING_KEY, ensure_torch
from .processing.provider import UgsProvider


def find_dependencies():
    """Put PyTorch on sys.path if any configured folder has it; (ok, message)."""
    setting = QgsSettings().value(SETTING_KEY, "", type=str)
    return ensure_torch(PLUGIN_DIR, setting, QgsApplication.qgisSettingsDirPath())


class UgsPlugin:
    def __init__(self, iface):
        self.iface = iface  # None under qgis_process
        self.provider = None
        self.actions = []
        self.region_tool = None
        self.previous_tool = None

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        find_dependencies()
        self.provider = UgsProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        if self.iface is None:
            return
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction
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
        for a in (action, assess, region):
            self.iface.addToolBarIcon(a)
            self.iface.addPluginToRasterMenu("Urban Green Space", a)
            self.actions.append(a)

    def open_extraction_dialog(self):
        import processing
        params = {}
        layer = self.iface.activeLayer()
        if layer is not None and layer.type() == QgsMapLayerType.RasterLayer:
            params["INPUT"] = layer
        processing.execAlgorithmDialog("ugs:extracturbangreenspace", params)

    def open_assessment_dialog(self):
        """Pre-filled with the active class raster and the active polygon layer (or
        the first of each kind in the project)."""
        import processing
        from qgis.core import QgsProject, QgsWkbTypes
        active = self.iface.activeLayer()
        layers = [active] + list(QgsProject.instance().mapLayers().values())
        params = {}
        for layer in layers:
            if layer is None:
                continue
            if "INPUT" not in params and layer.type() == QgsMapLayerType.RasterLayer:
                params["INPUT"] = layer
            if "REFERENCE" not in params and layer.type() == QgsMapLayerType.VectorLayer \
                    and layer.geometryType() in (QgsWkbTypes.PolygonGeometry,
                                                 QgsWkbTypes.PointGeometry):
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
        from qgis.core import QgsCoordinateTransform, QgsCsException, QgsProject
        project = QgsProject.instance()
        extent = region_layer.extent()
        rasters = [self.iface.activeLayer()] + project.layerTreeRoot().layerOrder()
        params = {"REGION": region_layer.id(), "OUTPUT_ADAPTED": "TEMPORARY_OUTPUT",
                  "OUTPUT_BASE": "TEMPORARY_OUTPUT"}
        for layer in rasters:
            if layer is None or layer.type() != QgsMapLayerType.RasterLayer:
                continue
            to_layer = QgsCoordinateTransform(region_layer.crs(), layer.crs(), project)
            try:
                covers = layer.extent().intersects(to_layer.transformBoundingBox(extent))
            except QgsCsException:  # the region cannot be placed on this layer
                covers = False
            if covers:
                params["INPUT"] = layer
                break
        processing.execAlgorithmDialog("ugs:adapttoregion", params)

    def unload(self):
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
