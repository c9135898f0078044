"""ugs:stratifiedsample: stratified random validation points over a class raster."""
from __future__ import annotations

from qgis.core import (QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsGeometry,
                       QgsPointXY, QgsProcessing, QgsProcessingAlgorithm,
                       QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from .common import (add_advanced, attach_reference_style, boundary_from_source,
                     require_engine)


class StratifiedSample(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    BOUNDARY = "BOUNDARY"
    N_GREEN = "N_GREEN"
    N_OTHER = "N_OTHER"
    TARGET_SE = "TARGET_SE"
    UA_GREEN = "UA_GREEN"
    UA_OTHER = "UA_OTHER"
    MIN_PER_STRATUM = "MIN_PER_STRATUM"
    SEED = "SEED"
    OUTPUT = "OUTPUT"

    def createInstance(self):  # noqa: N802
        return StratifiedSample()

    def name(self):
        return "stratifiedsample"

    def displayName(self):  # noqa: N802
        return "Create stratified validation points"

    def shortHelpString(self):  # noqa: N802
        return (
            "Draws stratified random points over a green-space class raster: the "
            "strata are the mapped classes (green space, other), so the rare class "
            "gets enough points. Give the number of points per stratum, or leave them "
            "at 0 to compute the total from a target standard error of overall "
            "accuracy and the user's accuracies you expect (Cochran's formula as used "
            "by Olofsson et al. 2014), allocated proportionally with a minimum per "
            "stratum.<br><br>Label each point in its empty <tt>class</tt> field "
            "(Green space = 1, Other = 0) by looking at the imagery, then run "
            "<i>Assess accuracy</i>: the <tt>stratum</tt> and <tt>stratum_pixels</tt> "
            "fields let it weight the points and estimate areas with confidence "
            "intervals. The same seed gives the same points.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.INPUT, "Green-space class raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.BOUNDARY, "Only inside (optional)", [QgsProcessing.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.N_GREEN, "Points in green space (0 = from the target SE)",
            QgsProcessingParameterNumber.Integer, 0, False, 0))
        self.addParameter(QgsProcessingParameterNumber(
            self.N_OTHER, "Points in other (0 = from the target SE)",
            QgsProcessingParameterNumber.Integer, 0, False, 0))
        self.addParameter(QgsProcessingParameterNumber(
            self.TARGET_SE, "Target standard error of overall accuracy",
            QgsProcessingParameterNumber.Double, 0.01, False, 0.001, 0.5))
        advanced = [
            QgsProcessingParameterNumber(self.UA_GREEN, "Expected user's accuracy, green",
                                         QgsProcessingParameterNumber.Double, 0.85,
                                         False, 0.01, 0.99),
            QgsProcessingParameterNumber(self.UA_OTHER, "Expected user's accuracy, other",
                                         QgsProcessingParameterNumber.Double, 0.95,
                                         False, 0.01, 0.99),
            QgsProcessingParameterNumber(self.MIN_PER_STRATUM, "Minimum points per "
                                         "stratum", QgsProcessingParameterNumber.Integer,
                                         50, False, 1),
            QgsProcessingParameterNumber(self.SEED, "Random seed",
                                         QgsProcessingParameterNumber.Integer, 1, False,
                                         0),
        ]
        add_advanced(self, advanced)
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Validation points", QgsProcessing.TypeVectorPoint))
        self.addOutput(QgsProcessingOutputNumber("POINTS", "Number of points"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from ..core import accuracy
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        boundary = None
        source = self.parameterAsSource(parameters, self.BOUNDARY, context)
        if source is not None:
            boundary = boundary_from_source(source, layer, context, "Boundary")
        feedback.pushInfo("Counting pixels per class…")
        counts = accuracy.class_counts(layer.source(), boundary)
        total = sum(counts.values())
        if total == 0:
            raise QgsProcessingException("the raster has no pixels of class 0 or 1 (in "
                                         "the boundary): is it a green-space map?")
        asked = {1: self.parameterAsInt(parameters, self.N_GREEN, context),
                 0: self.parameterAsInt(parameters, self.N_OTHER, context)}
        if not any(asked.values()):
            weights = {k: v / total for k, v in counts.items()}
            expected = {1: self.parameterAsDouble(parameters, self.UA_GREEN, context),
                        0: self.parameterAsDouble(parameters, self.UA_OTHER, context)}
            n = accuracy.sample_size(weights, expected, self.parameterAsDouble(
                parameters, self.TARGET_SE, context), total)
            asked = accuracy.allocate(n, counts, self.parameterAsInt(
                parameters, self.MIN_PER_STRATUM, context))
            feedback.pushInfo(f"Sample size {n} for the target standard error; "
                              f"allocation green {asked.get(1, 0)}, other "
                              f"{asked.get(0, 0)}")
        for k, n in asked.items():
            if n > counts.get(k, 0):
                raise QgsProcessingException(
                    f"{n} points asked in {'green space' if k else 'other'}, but that "
                    f"stratum has only {counts.get(k, 0)} pixels")
        if feedback.isCanceled():
            return {}
        points, counts = accuracy.stratified_points(
            layer.source(), asked, self.parameterAsInt(parameters, self.SEED, context),
            boundary)
        fields = QgsFields()
        for name, kind in (("id", QVariant.Int), ("stratum", QVariant.Int),
                           ("stratum_pixels", QVariant.LongLong),
                           ("map_class", QVariant.Int), ("class", QVariant.Int)):
            fields.append(QgsField(name, kind))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          QgsWkbTypes.Point, layer.crs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for i, (x, y, stratum) in enumerate(points, start=1):
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
            feature.setAttributes([i, stratum, counts[stratum], stratum, None])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        attach_reference_style(context, dest)
        return {self.OUTPUT: dest, "POINTS": len(points)}
