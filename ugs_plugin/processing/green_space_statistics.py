"""ugs:greenspacestatistics: green space per zone."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core import fields
from ..core.workflows import statistics
from .common import STATISTICS, Choropleth, UgsAlgorithm, attach_post_processor
from .options import add_options


class GreenSpaceStatistics(UgsAlgorithm):
    NAME = "greenspacestatistics"
    DISPLAY_NAME = "Green space statistics by zone"
    GROUP = STATISTICS
    TAGS = ("zonal", "coverage", "patches", "per capita", "district")
    HELP_ANCHOR = "mapping-a-whole-city-boundary-frame-grid-statistics"
    use_case = statistics
    HELP = (
        "For each zone (urban boundary, districts, any polygons in any CRS): the "
        "mapped area (pixels with data), the green-space area, the green coverage "
        "ratio (green / mapped), the number of green patches (8-connected regions of "
        "green pixels inside the zone), their mean and largest area, and, when a "
        "population field is given, green area per inhabitant. Areas are in the class "
        "raster's map units squared (m² for metric CRSs).<br>Input: a class raster (1 "
        "green, 0 other, 255 nodata) or the VRT mosaic of a frame-grid run. The raster "
        "is read zone by zone in strips, so any size works. Output: the zones with "
        "these fields, styled by coverage. A cancelled run writes no layer.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Green-space class raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "ZONES", self.tr("Zones"), [qgis_compat.SOURCE_VECTOR_POLYGON]))
        add_options(self, statistics.OPTIONS)
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Green space by zone"), qgis_compat.SOURCE_VECTOR_POLYGON))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context, map=self.raster_path(parameters, "INPUT", context),
            zones=self.vector_layer(parameters, "ZONES", context))

    def outputs(self, result, parameters, context, feedback):
        dest = self.copy_with_fields(
            parameters, context, "ZONES", "OUTPUT",
            [n for n, _ in fields.STATISTICS_FIELDS], result.rows)
        attach_post_processor(context, dest, Choropleth("green_ratio"))
        return {"OUTPUT": dest}
