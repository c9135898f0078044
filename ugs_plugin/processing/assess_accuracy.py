"""ugs:assessaccuracy: a class map against reference polygons or sample points."""
from __future__ import annotations

import csv
import os

from qgis.core import (QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessing,
                       QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputNumber, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsUnitTypes, QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from .common import boundary_from_source, reference_classes, require_engine

NUMBERS = {"OVERALL_ACCURACY": "Overall accuracy", "PRECISION": "Precision (green)",
           "RECALL": "Recall (green)", "F1": "F1 (green)", "IOU": "IoU (green)",
           "KAPPA": "Cohen's kappa", "N": "Pixels or points compared",
           "OA_STRATIFIED": "Overall accuracy, stratified estimate",
           "OA_STRATIFIED_SE": "Standard error of the stratified overall accuracy",
           "GREEN_AREA_ESTIMATE": "Green-space area, stratified estimate (map units²)",
           "GREEN_AREA_SE": "Standard error of the green-space area (map units²)"}


class AssessAccuracy(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    REFERENCE = "REFERENCE"
    FIELD = "FIELD"
    GREEN_VALUES = "GREEN_VALUES"
    BOUNDARY = "BOUNDARY"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    OUTPUT_CSV = "OUTPUT_CSV"
    OUTPUT_HTML = "OUTPUT_HTML"

    def createInstance(self):  # noqa: N802
        return AssessAccuracy()

    def name(self):
        return "assessaccuracy"

    def displayName(self):  # noqa: N802
        return "Assess accuracy"

    def shortHelpString(self):  # noqa: N802
        return (
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
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT,
                                                            "Green-space class raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.REFERENCE, "Reference polygons or points",
            [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField(
            self.FIELD, "Class field", "class", self.REFERENCE))
        self.addParameter(QgsProcessingParameterString(
            self.GREEN_VALUES, "Values meaning green space (comma-separated)", "1"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.BOUNDARY, "Only inside (optional)", [QgsProcessing.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, "Confusion matrix", QgsProcessing.TypeVector))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_CSV, "Confusion matrix CSV", "CSV files (*.csv)", optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, "Accuracy report", "HTML files (*.html)"))
        for name, text in NUMBERS.items():
            self.addOutput(QgsProcessingOutputNumber(name, text))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        require_engine()
        from ..core import accuracy
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        source = self.parameterAsSource(parameters, self.REFERENCE, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters,
                                                                 self.REFERENCE))
        field = self.parameterAsString(parameters, self.FIELD, context)
        if source.fields().indexOf(field) < 0:
            raise QgsProcessingException(f"the reference layer has no field '{field}'")
        green_values = [v.strip() for v in self.parameterAsString(
            parameters, self.GREEN_VALUES, context).split(",") if v.strip()]
        names = source.fields().names()
        design = ("stratum", "stratum_pixels")
        shapes = reference_classes(source, field, green_values, layer.crs(), context,
                                   feedback, design if set(design) <= set(names) else ())
        boundary = None
        boundary_source = self.parameterAsSource(parameters, self.BOUNDARY, context)
        if boundary_source is not None:
            boundary = boundary_from_source(boundary_source, layer, context, "Boundary")
        points = QgsWkbTypes.geometryType(source.wkbType()) == QgsWkbTypes.PointGeometry
        pixel_area = abs(layer.rasterUnitsPerPixelX() * layer.rasterUnitsPerPixelY())
        warnings, stratified = [], None
        try:
            if points:
                cm, stratified = self._assess_points(layer, shapes, boundary, warnings,
                                                     accuracy)
            else:
                feedback.pushInfo("Rasterizing reference polygons on the map grid…")
                cm = accuracy.assess_polygons(layer.source(),
                                              [(g, v) for g, v, _ in shapes],
                                              valid_fn=boundary)
        except accuracy.ReferenceDataError as err:
            raise QgsProcessingException(str(err)) from None
        metrics = accuracy.binary_metrics(cm.matrix)
        if metrics["green"]["reference_count"] == 0:
            warnings.append("the reference has no green space: recall of green space "
                            "is undefined")
        if metrics["green"]["map_count"] == 0:
            warnings.append("nothing compared is mapped green: precision is undefined")
        for w in warnings:
            feedback.pushWarning(w)

        results = self._write_table(parameters, context, cm.matrix,
                                    None if points else pixel_area)
        csv_path = self.parameterAsFileOutput(parameters, self.OUTPUT_CSV, context)
        if csv_path:
            self._write_csv(csv_path, cm.matrix, None if points else pixel_area)
            results[self.OUTPUT_CSV] = csv_path
        html_path = self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context)
        unit = QgsUnitTypes.toAbbreviatedString(layer.crs().mapUnits()) + "²"
        report = accuracy.html_report(
            "Accuracy of the green-space map",
            {"map": layer.source(), "reference": source.sourceName(),
             "class field": f"{field} (green = {', '.join(green_values)})",
             "unit": "points" if points else f"pixels of {pixel_area:g} {unit}"},
            cm.matrix, metrics, None if points else pixel_area,
            unit, stratified, warnings)
        _write_text(html_path, report)
        results[self.OUTPUT_HTML] = html_path
        results.update({
            "OVERALL_ACCURACY": metrics["overall_accuracy"],
            "PRECISION": metrics["green"]["precision"],
            "RECALL": metrics["green"]["recall"], "F1": metrics["green"]["f1"],
            "IOU": metrics["green"]["iou"], "KAPPA": metrics["kappa"],
            "N": metrics["n"]})
        if stratified:
            oa = stratified["overall_accuracy"]
            green = stratified["classes"].get(1)
            results.update({"OA_STRATIFIED": oa.value, "OA_STRATIFIED_SE": oa.se})
            if green is not None and green["area"].value is not None:
                results["GREEN_AREA_ESTIMATE"] = green["area"].value * pixel_area
                results["GREEN_AREA_SE"] = green["area"].se * pixel_area
        def fmt(v):
            return "undefined" if v is None else f"{v:.4f}"
        feedback.pushInfo(
            f"n={metrics['n']}: OA {fmt(metrics['overall_accuracy'])}, precision "
            f"{fmt(metrics['green']['precision'])}, recall "
            f"{fmt(metrics['green']['recall'])}, F1 {fmt(metrics['green']['f1'])}, "
            f"IoU {fmt(metrics['green']['iou'])}, kappa {fmt(metrics['kappa'])}")
        return results

    def _assess_points(self, layer, shapes, boundary, warnings, accuracy):
        import numpy as np
        import rasterio
        from shapely.geometry import Point
        if boundary is not None:
            inside = [s for s in shapes if any(
                boundary.geometries[i].intersects(Point(s[0].x, s[0].y))
                for i in boundary.candidates(s[0].x, s[0].y, s[0].x, s[0].y))]
            if len(inside) < len(shapes):
                warnings.append(f"{len(shapes) - len(inside)} point(s) outside the "
                                "boundary were left out")
            shapes = inside
        cm = accuracy.assess_points(layer.source(), [(g.x, g.y, v) for g, v, _ in shapes])
        if cm.total < len(shapes):
            warnings.append(f"{len(shapes) - cm.total} point(s) fall outside the map or "
                            "on nodata and were not counted")
        if not shapes or "stratum" not in shapes[0][2]:
            return cm, None
        # Stratified design: each point carries its stratum and the stratum's N_h.
        with rasterio.open(layer.source()) as src:
            mapped = np.array([int(v[0]) for v in src.sample(
                [(g.x, g.y) for g, _, _ in shapes])])
        keep = [i for i, (_, _, a) in enumerate(shapes)
                if mapped[i] in (0, 1) and a["stratum"] is not None]
        if not keep:
            return cm, None
        strata = np.array([int(shapes[i][2]["stratum"]) for i in keep])
        sizes = {int(shapes[i][2]["stratum"]): int(shapes[i][2]["stratum_pixels"])
                 for i in keep}
        single = sorted(h for h in sizes if np.sum(strata == h) == 1)
        if single:
            warnings.append(f"stratum {single} has a single labelled point: its "
                            "variance cannot be estimated and counts as 0")
        stratified = accuracy.stratified_accuracy(
            strata, mapped[keep], np.array([shapes[i][1] for i in keep]), sizes,
            classes=[0, 1])
        return cm, stratified

    def _write_table(self, parameters, context, matrix, pixel_area):
        fields = QgsFields()
        fields.append(QgsField("reference", QVariant.String))
        fields.append(QgsField("map_other", QVariant.LongLong))
        fields.append(QgsField("map_green", QVariant.LongLong))
        fields.append(QgsField("map_other_area", QVariant.Double))
        fields.append(QgsField("map_green_area", QVariant.Double))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT_TABLE, context, fields,
                                          QgsWkbTypes.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters,
                                                               self.OUTPUT_TABLE))
        for name, row in (("other", matrix[0]), ("green space", matrix[1])):
            feature = QgsFeature(fields)
            area = [None, None] if pixel_area is None else [int(row[0]) * pixel_area,
                                                            int(row[1]) * pixel_area]
            feature.setAttributes([name, int(row[0]), int(row[1]), *area])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        return {self.OUTPUT_TABLE: dest}

    @staticmethod
    def _write_csv(path, matrix, pixel_area):
        def write(f):
            out = csv.writer(f)
            out.writerow(["reference", "map_other", "map_green", "map_other_area",
                          "map_green_area"])
            for name, row in (("other", matrix[0]), ("green space", matrix[1])):
                area = ["", ""] if pixel_area is None else [int(row[0]) * pixel_area,
                                                            int(row[1]) * pixel_area]
                out.writerow([name, int(row[0]), int(row[1]), *area])
        _write_text(path, None, write)


def _write_text(path, text, writer=None):
    """Write beside the target, then rename: never a half-written report."""
    from ..core.outputs import atomic_output
    suffix = os.path.splitext(path)[1] or ".txt"
    with atomic_output(path, suffix) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if writer:
                writer(f)
            else:
                f.write(text)
