"""ugs:assessaccuracy: a class map against reference polygons or sample points."""
from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsFields,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import qgis_compat
from ..core.errors import UgsError
from ..core.workflows import assess
from .common import ACCURACY, UgsAlgorithm
from .options import add_options

NUMBERS = {"OVERALL_ACCURACY": "Overall accuracy", "PRECISION": "Precision (green)",
           "RECALL": "Recall (green)", "F1": "F1 (green)", "IOU": "IoU (green)",
           "KAPPA": "Cohen's kappa", "N": "Pixels or points compared",
           "OA_STRATIFIED": "Overall accuracy, stratified estimate",
           "OA_STRATIFIED_SE": "Standard error of the stratified overall accuracy",
           "GREEN_AREA_ESTIMATE": "Green-space area, stratified estimate (map units²)",
           "GREEN_AREA_SE": "Standard error of the green-space area (map units²)"}


class AssessAccuracy(UgsAlgorithm):
    NAME = "assessaccuracy"
    DISPLAY_NAME = "Assess accuracy"
    GROUP = ACCURACY
    TAGS = ("accuracy", "validation", "confusion matrix", "F1", "kappa",
            "overall accuracy", "reference")
    HELP_ANCHOR = "checking-the-map-accuracy-assessment"
    use_case = assess
    HELP = (
        "Compares a green-space class raster (1 green, 0 other, 255 nodata) with "
        "reference data you digitized or labelled.<br><br>"
        "<b>Reference</b>: polygons (rasterized on the map's grid) or points "
        "(the map is read at each point), in any CRS. <b>Class field</b> holds "
        "the reference class; <b>green values</b> lists the values that mean "
        "green space (default 1); 0 or 'other' means other. Any other value is "
        "an error, and overlapping polygons of different classes too.<br><br>"
        "Outputs the confusion matrix (counts and areas) as a table and CSV, "
        "overall accuracy, precision (user's accuracy), recall (producer's "
        "accuracy), F1 and IoU of both classes and Cohen's kappa, and an HTML "
        "report. Points made by <i>Create stratified validation points</i> (with "
        "their <tt>stratum</tt> and <tt>stratum_pixels</tt> fields) also give "
        "stratified estimates of accuracy and of the green-space area with "
        "standard errors and 95 % confidence intervals (Olofsson et al. 2014).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Green-space class raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE", self.tr("Reference polygons or points"),
            [qgis_compat.SOURCE_VECTOR_POLYGON, qgis_compat.SOURCE_VECTOR_POINT]))
        add_options(self, assess.OPTIONS)
        self.addParameter(QgsProcessingParameterFeatureSource(
            "BOUNDARY", self.tr("Only inside"), [qgis_compat.SOURCE_VECTOR_POLYGON],
            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT_TABLE", self.tr("Confusion matrix"), qgis_compat.SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_CSV", self.tr("Confusion matrix CSV"), "CSV files (*.csv)",
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_HTML", self.tr("Accuracy report"), "HTML files (*.html)"))
        for name, text in NUMBERS.items():
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(text)))

    def request(self, parameters, context, feedback):
        return self.build_request(
            parameters, context, map=self.raster_path(parameters, "INPUT", context),
            reference=self.vector_layer(parameters, "REFERENCE", context),
            boundary=self.vector_layer(parameters, "BOUNDARY", context, optional=True),
            report=self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context),
            table=self.parameterAsFileOutput(parameters, "OUTPUT_CSV", context) or None)

    def outputs(self, result, parameters, context, feedback):
        fields = QgsFields()
        fields.append(qgis_compat.field("reference", "string"))
        for name in assess.TABLE_FIELDS[1:3]:
            fields.append(qgis_compat.field(name, "int64"))
        for name in assess.TABLE_FIELDS[3:]:
            fields.append(qgis_compat.field(name, "double"))
        sink, dest = self.parameterAsSink(parameters, "OUTPUT_TABLE", context, fields,
                                          qgis_compat.WKB_NO_GEOMETRY)
        if sink is None:
            raise UgsError(self.invalidSinkError(parameters, "OUTPUT_TABLE"))
        for row in assess.table_rows(result):
            feature = QgsFeature(fields)
            feature.setAttributes(row)
            sink.addFeature(feature, qgis_compat.FAST_INSERT)
        m = result.metrics
        results = {
            "OUTPUT_TABLE": dest,
            "OUTPUT_HTML": self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context),
            "OVERALL_ACCURACY": m["overall_accuracy"], "KAPPA": m["kappa"], "N": m["n"],
            **{key: m["green"][key.lower()] for key in ("PRECISION", "RECALL", "F1",
                                                         "IOU")}}
        csv_path = self.parameterAsFileOutput(parameters, "OUTPUT_CSV", context)
        if csv_path:
            results["OUTPUT_CSV"] = csv_path
        if result.stratified:
            oa = result.stratified["overall_accuracy"]
            results.update({"OA_STRATIFIED": oa.value, "OA_STRATIFIED_SE": oa.se})
        if result.stratified_green_area:
            results["GREEN_AREA_ESTIMATE"], results["GREEN_AREA_SE"] = \
                result.stratified_green_area
        return results
