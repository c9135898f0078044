"""Assess the accuracy of a class map against reference polygons (rasterized on the
map's grid) or points (sampled; stratified estimates when they carry their design)."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np

from ..errors import check_output_path, file_errors, UgsError
from ..feedback import Feedback, SILENT
from ..vectors import reference_classes, VectorLayer
from . import spec
from .common import raster_frame, require_file, write_text

DESIGN_FIELDS = ("stratum", "stratum_pixels")  # written by the sampling use case


@dataclass
class AssessRequest:
    map: str                        # class raster: 1 green, 0 other, 255 nodata
    reference: VectorLayer          # polygons or points, any CRS
    class_field: str = "class"
    green_values: tuple = ("1",)
    boundary: VectorLayer | None = None  # compare only inside
    report: str | None = None       # HTML report to write
    table: str | None = None        # CSV confusion matrix to write


OPTIONS = spec.bind(
    AssessRequest,
    spec.class_field("REFERENCE", help="field holding the reference class"),
    spec.GREEN_VALUES,
)


@dataclass
class AssessResult:
    matrix: np.ndarray              # [[tn, fp], [fn, tp]], green = positive
    metrics: dict                   # accuracy.binary_metrics
    points: bool                    # compared at points (else pixels of polygons)
    map_pixel_area: float           # map units squared per pixel of the map
    area_unit: str = ""
    stratified: dict | None = None  # design-based estimates (stratified points)
    warnings: list = field(default_factory=list)

    @property
    def pixel_area(self) -> float | None:
        """Area per counted unit: a pixel for polygons; None for points."""
        return None if self.points else self.map_pixel_area

    @property
    def stratified_green_area(self):
        """(estimate, standard error) of the green-space area in map units squared,
        from a stratified sample; None without one."""
        green = (self.stratified or {}).get("classes", {}).get(1)
        if green is None or green["area"].value is None:
            return None
        return (green["area"].value * self.map_pixel_area,
                green["area"].se * self.map_pixel_area)

    def summary(self) -> dict:
        """The CLI's --json object (DESIGN.md)."""
        m = self.metrics
        return {"confusion_matrix": self.matrix.tolist(),
                "overall_accuracy": m["overall_accuracy"],
                "precision": m["green"]["precision"], "recall": m["green"]["recall"],
                "f1": m["green"]["f1"], "iou": m["green"]["iou"], "kappa": m["kappa"],
                "other": m["other"], "n": m["n"]}

    def describe(self) -> str:
        s = self.summary()

        def fmt(v):
            return "undefined" if v is None else f"{v:.4f}"
        return (f"n={s['n']}: OA {fmt(s['overall_accuracy'])}, precision "
                f"{fmt(s['precision'])}, recall {fmt(s['recall'])}, F1 {fmt(s['f1'])}, "
                f"IoU {fmt(s['iou'])}, kappa {fmt(s['kappa'])}; matrix [[tn, fp], "
                f"[fn, tp]] = {s['confusion_matrix']}")


def run(request: AssessRequest, feedback: Feedback = SILENT) -> AssessResult:
    from ..accuracy import metrics as accuracy
    path = require_file(request.map, "class raster")
    for out, suffixes in ((request.report, (".html", ".htm")), (request.table, (".csv",))):
        if out:
            check_output_path(out, [path], suffixes)
    with file_errors(path):
        crs, bounds, _ = raster_frame(path)
        design = DESIGN_FIELDS if set(DESIGN_FIELDS) <= set(request.reference.fields) \
            else ()
        shapes, warnings = reference_classes(request.reference, request.class_field,
                                             request.green_values, crs, design)
        boundary = None
        if request.boundary is not None:
            from ..mapping.boundary import polygon_mask
            boundary = polygon_mask(request.boundary, crs, bounds, "boundary")
        points = all(g.geom_type == "Point" for g, _, _ in shapes)
        stratified = None
        if points:
            cm, stratified = _assess_points(path, shapes, boundary, warnings)
        else:
            feedback.info("Rasterizing reference polygons on the map grid…")
            polygons = [(g, v) for g, v, _ in shapes
                        if g.geom_type in ("Polygon", "MultiPolygon")]
            if len(polygons) < len(shapes):
                warnings.append(f"{len(shapes) - len(polygons)} reference feature(s) "
                                "that are not polygons were left out")
            cm = accuracy.assess_polygons(path, polygons, valid_fn=boundary)
        pixel_area, unit = _pixel_area(path)
    metrics = accuracy.binary_metrics(cm.matrix)
    if metrics["green"]["reference_count"] == 0:
        warnings.append("the reference has no green space: recall of green space is "
                        "undefined")
    if metrics["green"]["map_count"] == 0:
        warnings.append("nothing compared is mapped green: precision is undefined")
    result = AssessResult(cm.matrix, metrics, points, pixel_area, unit, stratified,
                          warnings)
    for warning in warnings:
        feedback.warning(warning)
    feedback.info(result.describe())
    sources = {"map": path, "reference": request.reference.name,
               "class field": f"{request.class_field} (green = "
                              f"{', '.join(request.green_values)})",
               "unit": "points" if points else f"pixels of {pixel_area:g} {unit}"}
    with file_errors("the report"):
        if request.report:
            from ..accuracy.report import html_report
            write_text(request.report, html_report(
                "Accuracy of the green-space map", sources, cm.matrix, metrics,
                result.pixel_area, unit, stratified, warnings))
        if request.table:
            write_text(request.table, None, lambda f: _write_csv(f, result))
    return result


def table_rows(result: AssessResult) -> list:
    """(reference class, map other, map green, area other, area green) rows."""
    rows = []
    for name, row in (("other", result.matrix[0]), ("green space", result.matrix[1])):
        area = [None, None] if result.pixel_area is None else \
            [int(row[0]) * result.pixel_area, int(row[1]) * result.pixel_area]
        rows.append([name, int(row[0]), int(row[1]), *area])
    return rows


TABLE_FIELDS = ("reference", "map_other", "map_green", "map_other_area",
                "map_green_area")


def _write_csv(f, result):
    out = csv.writer(f)
    out.writerow(TABLE_FIELDS)
    for row in table_rows(result):
        out.writerow(["" if v is None else v for v in row])


def _pixel_area(path):
    import rasterio
    with rasterio.open(path) as src:
        unit = "m²"
        if src.crs is None:
            unit = "px"
        elif src.crs.is_geographic:
            unit = "degrees²"
        else:
            try:
                name = src.crs.linear_units
                unit = "m²" if name in ("metre", "meter", "m") else f"{name}²"
            except Exception:
                pass
        return abs(src.transform.a * src.transform.e), unit


def _assess_points(path, shapes, boundary, warnings):
    import rasterio
    from shapely.geometry import Point

    from ..accuracy import metrics as accuracy
    if boundary is not None:
        inside = [s for s in shapes if any(
            boundary.geometries[i].intersects(Point(s[0].x, s[0].y))
            for i in boundary.candidates(s[0].x, s[0].y, s[0].x, s[0].y))]
        if len(inside) < len(shapes):
            warnings.append(f"{len(shapes) - len(inside)} point(s) outside the boundary "
                            "were left out")
        shapes = inside
    if not shapes:
        raise UgsError("no reference point lies inside the boundary")
    cm = accuracy.assess_points(path, [(g.x, g.y, v) for g, v, _ in shapes])
    if cm.total < len(shapes):
        warnings.append(f"{len(shapes) - cm.total} point(s) fall outside the map or on "
                        "nodata and were not counted")
    if "stratum" not in shapes[0][2]:
        return cm, None
    # Stratified design: each point carries its stratum and the stratum's N_h.
    with rasterio.open(path) as src:
        mapped = np.array([int(v[0]) for v in src.sample([(g.x, g.y)
                                                          for g, _, _ in shapes])])
    keep = [i for i, (_, _, a) in enumerate(shapes)
            if mapped[i] in (0, 1) and a["stratum"] is not None]
    if not keep:
        return cm, None
    strata = np.array([int(shapes[i][2]["stratum"]) for i in keep])
    sizes = {int(shapes[i][2]["stratum"]): int(shapes[i][2]["stratum_pixels"])
             for i in keep}
    single = sorted(h for h in sizes if np.sum(strata == h) == 1)
    if single:
        warnings.append(f"stratum {single} has a single labelled point: its variance "
                        "cannot be estimated and counts as 0")
    stratified = accuracy.stratified_accuracy(
        strata, mapped[keep], np.array([shapes[i][1] for i in keep]), sizes,
        classes=[0, 1])
    return cm, stratified
