"""The "Urban Green Space" Processing provider (id ``ugs``)."""
from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .. import PLUGIN_DIR, plugin_version
from .adapt_to_region import AdaptToRegion
from .assess_accuracy import AssessAccuracy
from .create_reference_layer import CreateReferenceLayer
from .extract_frame_grid import ExtractFrameGrid
from .extract_green_space import ExtractUrbanGreenSpace
from .finetune_on_reference import FinetuneOnReference
from .green_space_change import GreenSpaceChange
from .green_space_indicators import GreenSpaceIndicators
from .green_space_statistics import GreenSpaceStatistics
from .mask_by_boundary import MaskByUrbanBoundary
from .stratified_sample import StratifiedSample
from .suggest_places import SuggestPlacesToMark
from .train_model import TrainModel


class UgsProvider(QgsProcessingProvider):
    def id(self):
        return "ugs"

    def name(self):
        return "Urban Green Space"

    def longName(self):  # noqa: N802
        return f"Urban Green Space (UGSNet) {plugin_version()}"

    def icon(self):
        return QIcon(str(PLUGIN_DIR / "resources" / "icon.svg"))

    def svgIconPath(self):  # noqa: N802
        return str(PLUGIN_DIR / "resources" / "icon.svg")

    def versionInfo(self):  # noqa: N802
        return plugin_version()

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        return ["tif"]

    def load(self):
        """Register the plugin's page under Settings > Options > Processing >
        Providers, then the algorithms."""
        from .settings import register
        register(self)
        self.refreshAlgorithms()
        return True

    def unload(self):
        from .settings import unregister
        unregister()

    def loadAlgorithms(self):  # noqa: N802
        self.addAlgorithm(ExtractUrbanGreenSpace())
        self.addAlgorithm(TrainModel())
        self.addAlgorithm(AdaptToRegion())
        self.addAlgorithm(FinetuneOnReference())
        self.addAlgorithm(AssessAccuracy())
        self.addAlgorithm(CreateReferenceLayer())
        self.addAlgorithm(StratifiedSample())
        self.addAlgorithm(SuggestPlacesToMark())
        self.addAlgorithm(MaskByUrbanBoundary())
        self.addAlgorithm(ExtractFrameGrid())
        self.addAlgorithm(GreenSpaceStatistics())
        self.addAlgorithm(GreenSpaceIndicators())
        self.addAlgorithm(GreenSpaceChange())
