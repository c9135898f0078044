"""ugs:greenspacestatistics: green space per zone."""
from __future__ import annotations

from qgis.core import (QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessing,
                       QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterRasterLayer)
from qgis.PyQt.QtCore import QVariant

from .common import attach_post_processor, require_engine

NEW_FIELDS = [("mapped_m2", "mapped area"), ("green_m2", "green-space area"),
              ("green_ratio", "green coverage ratio"), ("patches", "green patches"),
              ("patch_mean_m2", "mean patch area"), ("patch_max_m2", "largest patch"),
              ("green_m2_per_person", "green area per inhabitant")]


class CoverageChoropleth(QgsProcessingLayerPostProcessorInterface):
    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from qgis.core import (QgsClassificationQuantile, QgsGradientColorRamp,
                               QgsGraduatedSymbolRenderer)
        from qgis.PyQt.QtGui import QColor
        renderer = QgsGraduatedSymbolRenderer("green_ratio")
        renderer.setClassificationMethod(QgsClassificationQuantile())
        renderer.updateClasses(layer, 5)
        renderer.updateColorRamp(QgsGradientColorRamp(QColor("#f7fcf5"),
                                                      QColor("#00441b")))
        layer.setRenderer(renderer)
        layer.triggerRepaint()


class GreenSpaceStatistics(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    ZONES = "ZONES"
    POPULATION_FIELD = "POPULATION_FIELD"
    OUTPUT = "OUTPUT"

    def createInstance(self):  # noqa: N802
        return GreenSpaceStatistics()

    def name(self):
        return "greenspacestatistics"

    def displayName(self):  # noqa: N802
        return "Green space statistics by zone"

    def shortHelpString(self):  # noqa: N802
        return (
            "For each zone (urban boundary, districts, any polygons in any CRS): the "
            "mapped area (pixels with data), the green-space area, the green coverage "
            "ratio (green / mapped), the number of green patches (8-connected "
            "regions of green pixels inside the zone), their mean and largest area, "
            "and, when a population field is given, green area per inhabitant. Areas "
            "are in the class raster's map units squared (m² for metric CRSs).<br>"
            "Input: a class raster (1 green, 0 other, 255 nodata) or the VRT mosaic "
            "of a frame-grid run. The raster is read zone by zone in strips, so any "
            "size works. Output: the zones with these fields, styled by coverage.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT,
                                                            "Green-space class raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.ZONES, "Zones", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterField(
            self.POPULATION_FIELD, "Population field (optional)", None, self.ZONES,
            QgsProcessingParameterField.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Green space by zone", QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        import rasterio
        from qgis.core import QgsFeatureRequest
        from shapely import wkb

        from ..core.zonal import zone_statistics
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        zones = self.parameterAsSource(parameters, self.ZONES, context)
        if zones is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.ZONES))
        population_field = self.parameterAsString(parameters, self.POPULATION_FIELD,
                                                  context)
        fields = QgsFields(zones.fields())
        for name, _ in NEW_FIELDS:
            if fields.indexOf(name) >= 0:
                raise QgsProcessingException(f"the zones already have a field '{name}'; "
                                             "rename it first")
            fields.append(QgsField(name, QVariant.Int if name == "patches"
                                   else QVariant.Double))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          zones.wkbType(), zones.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        request = QgsFeatureRequest().setDestinationCrs(layer.crs(),
                                                        context.transformContext())
        originals = {f.id(): f for f in zones.getFeatures()}
        total = max(1, zones.featureCount())
        with rasterio.open(layer.source()) as src:
            for i, feature in enumerate(zones.getFeatures(request)):
                if feedback.isCanceled():
                    break
                out = QgsFeature(fields)
                original = originals[feature.id()]
                out.setGeometry(original.geometry())
                values = [None] * len(NEW_FIELDS)
                if feature.hasGeometry():
                    population = None
                    if population_field:
                        population = feature[population_field]
                        population = float(population) if population not in (None, "") \
                            and float(population) > 0 else None
                    s = zone_statistics(src, wkb.loads(bytes(feature.geometry().asWkb())),
                                        population)
                    values = [s.mapped_area, s.green_area, s.coverage, s.patches,
                              s.mean_patch_area, s.largest_patch_area, s.green_per_person]
                out.setAttributes(original.attributes() + values)
                sink.addFeature(out, QgsFeatureSink.FastInsert)
                feedback.setProgress(100.0 * (i + 1) / total)
        attach_post_processor(context, dest, CoverageChoropleth())
        return {self.OUTPUT: dest}
