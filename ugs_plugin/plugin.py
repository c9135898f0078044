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
        for a in (action, assess):
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

    def unload(self):
        for action in self.actions:
            self.iface.removeToolBarIcon(action)
            self.iface.removePluginRasterMenu("Urban Green Space", action)
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
