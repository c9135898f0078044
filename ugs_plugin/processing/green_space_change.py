"""ugs:greenspacechange: two class maps of one place -> change raster and per-zone
gain / loss."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core import fields
from ..core.workflows import change
from .common import STATISTICS, UgsAlgorithm, attach_style
from .options import add_options

TOTALS = {"GAIN_M2": "gain_m2", "LOSS_M2": "loss_m2", "NET_M2": "net_m2"}


class GreenSpaceChange(UgsAlgorithm):
    NAME = "greenspacechange"
    DISPLAY_NAME = "Green space change"
    GROUP = STATISTICS
    TAGS = ("change detection", "gain", "loss", "time series", "monitoring")
    HELP_ANCHOR = "planner-indicators-and-change"
    use_case = change
    HELP = (
        "Compares two green-space class maps of the same place at two dates (1 green, "
        "0 other, 255 nodata: outputs of Extract urban green space). The change raster "
        "is on map A's grid: 0 stable other, 1 stable green, 2 gain (other in A, green "
        "in B), 3 loss (green in A, other in B), 255 nodata (nodata in either map). If "
        "the grids differ (CRS, pixel size, extent), map B is resampled to A's grid by "
        "nearest neighbour, and the log says so.<br>With zones: per zone the green "
        "area at A and at B, the gained, lost and net area (m²) and the number of gain "
        "and loss patches (8-connected). The planner report adds a map of net change "
        "per zone and the method's limits: a pixel wrong in either map shows as "
        "change, so compare maps of the same model and season. Rasters of any size "
        "are read in strips.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "MAP_A", self.tr("Green-space map A (before)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "MAP_B", self.tr("Green-space map B (after)")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "ZONES", self.tr("Zones"), [qgis_compat.SOURCE_VECTOR_POLYGON], optional=True))
        add_options(self, change.OPTIONS)
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Green-space change")))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT_ZONES", self.tr("Change by zone"), qgis_compat.SOURCE_VECTOR_POLYGON,
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_CSV", self.tr("Change by zone (CSV)"), "CSV files (*.csv)",
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_HTML", self.tr("Change report"), "HTML files (*.html)",
            optional=True))
        for name, key in TOTALS.items():
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(key.replace("_m2",
                                                                               " (m²)"))))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context, map_a=self.raster_path(parameters, "MAP_A", context),
            map_b=self.raster_path(parameters, "MAP_B", context),
            output=self.parameterAsOutputLayer(parameters, "OUTPUT", context),
            zones=self.vector_layer(parameters, "ZONES", context, optional=True),
            report=self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context) or None,
            table=self.parameterAsFileOutput(parameters, "OUTPUT_CSV", context) or None)

    def outputs(self, result, parameters, context, feedback):
        attach_style(context, result.output, "green_change.qml", "Green-space change")
        results = {"OUTPUT": result.output,
                   **{name: result.totals[key] for name, key in TOTALS.items()}}
        request = result.request
        for name, path in (("OUTPUT_HTML", request.report), ("OUTPUT_CSV", request.table)):
            if path:
                results[name] = path
        if request.zones is not None and parameters.get("OUTPUT_ZONES"):
            results["OUTPUT_ZONES"] = self.copy_with_fields(
                parameters, context, "ZONES", "OUTPUT_ZONES", fields.CHANGE_ZONE_FIELDS,
                result.zones)
        return results
