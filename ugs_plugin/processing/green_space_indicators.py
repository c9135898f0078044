"""ugs:greenspaceindicators: 3-30-300 indicators by zone (green cover, access to
parks, green area per resident)."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core import fields
from ..core.workflows import indicators
from .common import STATISTICS, Choropleth, UgsAlgorithm, attach_post_processor
from .options import add_options

DEFAULTS = indicators.IndicatorsRequest(map="", zones=None)
INDICATOR_KEYS = tuple(fields.INDICATORS)


class WithinStyle(QgsProcessingLayerPostProcessorInterface):
    """Buildings within the distance in green, beyond it in red."""

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from qgis.core import (
            QgsCategorizedSymbolRenderer,
            QgsRendererCategory,
            QgsSymbol,
        )
        from qgis.PyQt.QtGui import QColor
        categories = []
        for value, colour, label in ((1, "#1a9641", "within reach of a park"),
                                     (0, "#d7191c", "beyond the distance")):
            symbol = QgsSymbol.defaultSymbol(layer.geometryType())
            symbol.setColor(QColor(colour))
            categories.append(QgsRendererCategory(value, symbol, label))
        layer.setRenderer(QgsCategorizedSymbolRenderer("within", categories))
        layer.triggerRepaint()


_WITHIN_STYLE = WithinStyle()


class GreenSpaceIndicators(UgsAlgorithm):
    NAME = "greenspaceindicators"
    DISPLAY_NAME = "Green space indicators by zone (3-30-300)"
    GROUP = STATISTICS
    TAGS = ("3-30-300", "access", "park", "proximity", "walking distance", "planning",
            "green cover", "per capita", "WHO")
    HELP_ANCHOR = "planner-indicators-and-change"
    use_case = indicators
    HELP = (
        "What a planner asks of a green-space map, per zone (districts, neighbourhoods, "
        "any polygons in any CRS), after the 3-30-300 rule (Konijnendijk, 2021):<br>"
        "<b>Green cover</b> (the \"30\"): the share of the zone's mapped pixels classed "
        "green, flagged when below the target (30 %). The map does not tell trees from "
        "grass, so this is green cover, not tree canopy.<br><b>Access</b> (the "
        "\"300\"): parks are the 8-connected green patches of the map of at least the "
        "minimum size (0.5 ha), or the polygons of a park layer. Each building (points "
        "or footprints, measured from a point inside) gets its distance to the nearest "
        "park edge: straight line, or along a road layer when one is given (roads join "
        "where they share a vertex; a park is entered from a road within 25 m). Per "
        "zone: buildings within the distance (300 m), their share and the mean "
        "distance; with a population field on the buildings, the same for residents "
        "and the green area per resident.<br>Outputs: the zones with these fields, "
        "styled by the chosen indicator; the buildings with their distance and a "
        "within flag; a CSV; an HTML report with a map, a chart of the zones against "
        "the target, the table and the method's limits. The map is read in strips, so "
        "a whole city's mosaic works. Needs a map in a projected (metric) CRS.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Green-space class raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "ZONES", self.tr("Zones"), [qgis_compat.SOURCE_VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "BUILDINGS", self.tr("Buildings (points or footprints)"),
            [qgis_compat.SOURCE_VECTOR_POINT, qgis_compat.SOURCE_VECTOR_POLYGON],
            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "NETWORK", self.tr("Roads and paths (distances along them)"),
            [qgis_compat.SOURCE_VECTOR_LINE], optional=True))
        add_options(self, indicators.OPTIONS)
        parks = QgsProcessingParameterFeatureSource(
            "PARKS", self.tr("Parks (instead of the map's patches)"),
            [qgis_compat.SOURCE_VECTOR_POLYGON], optional=True)
        parks.setFlags(parks.flags() | qgis_compat.FLAG_ADVANCED)
        self.addParameter(parks)
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Green-space indicators by zone"),
            qgis_compat.SOURCE_VECTOR_POLYGON))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT_BUILDINGS", self.tr("Buildings with distance to a park"),
            qgis_compat.SOURCE_VECTOR_ANY, optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_CSV", self.tr("Indicators (CSV)"), "CSV files (*.csv)",
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_HTML", self.tr("Planner report"), "HTML files (*.html)",
            optional=True))

    def request(self, parameters, context, feedback):
        value = self.reader(parameters, context)
        return self.build_request(
            parameters, context, map=self.raster_path(parameters, "INPUT", context),
            zones=self.vector_layer(parameters, "ZONES", context),
            buildings=self.vector_layer(parameters, "BUILDINGS", context, optional=True),
            parks=self.vector_layer(parameters, "PARKS", context, optional=True),
            network=self.vector_layer(parameters, "NETWORK", context, optional=True),
            report=value("OUTPUT_HTML", "FileOutput") or None,
            table=value("OUTPUT_CSV", "FileOutput") or None)

    def outputs(self, result, parameters, context, feedback):
        request = result.request
        zone_fields = fields.indicator_zone_fields(bool(request.population_field))
        dest = self.copy_with_fields(parameters, context, "ZONES", "OUTPUT",
                                     zone_fields, result.zones)
        attach_post_processor(context, dest, Choropleth(
            request.indicator, reverse=request.indicator == "mean_distance_m"))
        results = {"OUTPUT": dest}
        if request.buildings is not None and parameters.get("OUTPUT_BUILDINGS"):
            rows = [dict(b, zone_id=None if b["zone_id"] is None else str(b["zone_id"]))
                    for b in result.buildings]
            dest = self.copy_with_fields(parameters, context, "BUILDINGS",
                                         "OUTPUT_BUILDINGS",
                                         fields.building_fields(bool(request.network)),
                                         rows)
            attach_post_processor(context, dest, _WITHIN_STYLE)
            results["OUTPUT_BUILDINGS"] = dest
        for name, path in (("OUTPUT_HTML", request.report), ("OUTPUT_CSV", request.table)):
            if path:
                results[name] = path
        return results
