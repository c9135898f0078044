"""ugs:stratifiedsample: stratified random validation points over a class raster."""
from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core.fields import SAMPLE_POINT_FIELDS
from ..core.workflows import sampling
from .common import ACCURACY, UgsAlgorithm, attach_reference_style
from .options import add_options



class StratifiedSample(UgsAlgorithm):
    NAME = "stratifiedsample"
    DISPLAY_NAME = "Create stratified validation points"
    GROUP = ACCURACY
    TAGS = ("validation", "sample", "accuracy", "Olofsson", "reference")
    HELP_ANCHOR = "checking-the-map-accuracy-assessment"
    use_case = sampling
    HELP = (
        "Draws stratified random points over a green-space class raster: the strata "
        "are the mapped classes (green space, other), so the rare class gets enough "
        "points. Give the number of points per stratum, or leave them at 0 to compute "
        "the total from a target standard error of overall accuracy and the user's "
        "accuracies you expect (Cochran's formula as used by Olofsson et al. 2014), "
        "allocated proportionally with a minimum per stratum.<br><br>Label each point "
        "in its empty <tt>class</tt> field (Green space = 1, Other = 0) by looking at "
        "the imagery, then run <i>Assess accuracy</i>: the <tt>stratum</tt> and "
        "<tt>stratum_pixels</tt> fields let it weight the points and estimate areas "
        "with confidence intervals. The same seed gives the same points.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Green-space class raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "BOUNDARY", self.tr("Only inside"), [qgis_compat.SOURCE_VECTOR_POLYGON],
            optional=True))
        add_options(self, sampling.OPTIONS)
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Validation points"), qgis_compat.SOURCE_VECTOR_POINT))
        self.addOutput(QgsProcessingOutputNumber("POINTS", self.tr("Number of points")))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context, map=self.raster_path(parameters, "INPUT", context),
            boundary=self.vector_layer(parameters, "BOUNDARY", context, optional=True))

    def outputs(self, result, parameters, context, feedback):
        crs = self.parameterAsRasterLayer(parameters, "INPUT", context).crs()
        sink, dest, fields = self.schema_sink(parameters, "OUTPUT", context, SAMPLE_POINT_FIELDS,
                                              qgis_compat.WKB_POINT, crs)
        for i, (x, y, stratum) in enumerate(result.points, start=1):
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
            feature.setAttributes([i, stratum, result.stratum_pixels[stratum], stratum,
                                   None])
            sink.addFeature(feature, qgis_compat.FAST_INSERT)
        attach_reference_style(context, dest)
        return {"OUTPUT": dest, "POINTS": len(result.points)}
