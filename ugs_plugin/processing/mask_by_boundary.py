"""ugs:maskbyurbanboundary: pixels outside the urban boundary become nodata."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core.workflows import mask
from .common import UgsAlgorithm
from .options import add_options


class MaskByUrbanBoundary(UgsAlgorithm):
    NAME = "maskbyurbanboundary"
    DISPLAY_NAME = "Mask raster by urban boundary"
    TAGS = ("GUB", "urban boundary", "clip", "mask", "nodata")
    HELP_ANCHOR = "mapping-a-whole-city-boundary-frame-grid-statistics"
    use_case = mask
    HELP = (
        "Sets the pixels of a raster that lie outside urban-boundary polygons (e.g. "
        "Global Urban Boundaries 2018) to nodata, as the UGS-1m product did before "
        "mapping. The polygons may be in any CRS (reprojected); with 'Selected "
        "features only' only those are used. An optional buffer (metres) widens the "
        "boundary; <i>all touched</i> keeps every pixel the boundary touches instead "
        "of those whose centre is inside.<br>The output keeps the grid, data type, "
        "bands and nodata value; a raster without a nodata value gets an internal "
        "mask instead, so no real value is lost.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "BOUNDARY", self.tr("Urban boundary"), [qgis_compat.SOURCE_VECTOR_POLYGON]))
        add_options(self, mask.OPTIONS)
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Masked raster")))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context, image=self.raster_path(parameters, "INPUT", context),
            output=self.parameterAsOutputLayer(parameters, "OUTPUT", context),
            boundary=self.vector_layer(parameters, "BOUNDARY", context))

    def outputs(self, result, parameters, context, feedback):
        return {"OUTPUT": result.output}
