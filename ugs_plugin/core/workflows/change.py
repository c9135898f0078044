"""Green-space change between two class maps of one place: a change raster (stable
green, stable other, gain, loss, nodata) and gained / lost / net area and patches per
zone."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..fields import CHANGE_ZONE_FIELDS, check_no_clash
from ..errors import check_output_path, file_errors, UgsError
from ..feedback import Feedback, SILENT
from ..mapping.imagery import bounded_gdal_cache
from ..vectors import VectorLayer
from . import spec
from .common import require_file, write_table, write_text



@dataclass
class ChangeRequest:
    map_a: str                       # before: class raster 1 green, 0 other, 255 nodata
    map_b: str                       # after; resampled to A's grid when they differ
    output: str                      # change raster (.tif)
    zones: VectorLayer | None = None
    id_field: str | None = None
    report: str | None = None        # HTML
    table: str | None = None         # CSV of the zones
    strip_rows: int = 1024


OPTIONS = spec.bind(
    ChangeRequest,
    spec.Option("id_field", "ID_FIELD", "Zone name field (empty = feature order)",
                "field", parent="ZONES"),
)


@dataclass
class ChangeResult:
    output: str
    totals: dict                     # areas over the whole change raster
    zones: list                      # one dict per zone feature, in order
    resampled: bool
    grid_note: str
    request: ChangeRequest
    warnings: list = field(default_factory=list)

    def summary(self) -> dict:
        return {"output": self.output, "resampled": self.resampled, **self.totals,
                "zones": self.zones}

    def describe(self) -> str:
        t = self.totals
        return (f"{self.output}: gain {t['gain_m2']:,.0f} m², loss {t['loss_m2']:,.0f} "
                f"m², net {t['net_m2']:+,.0f} m²")


def run(request: ChangeRequest, feedback: Feedback = SILENT) -> ChangeResult:
    import rasterio

    from ..planning import change
    from ..outputs import atomic_output
    path_a = require_file(request.map_a, "class raster A (before)")
    path_b = require_file(request.map_b, "class raster B (after)")
    check_output_path(request.output, [path_a, path_b])
    for out, suffixes in ((request.report, (".html", ".htm")), (request.table, (".csv",))):
        if out:
            check_output_path(out, [path_a, path_b, request.output], suffixes)
    if request.zones is not None:
        request.zones.require_features("zone layer")
        request.zones.require_fields((request.id_field,), "zone layer")
        check_no_clash(request.zones, CHANGE_ZONE_FIELDS, "zones")
    warnings = []
    with file_errors(path_a), rasterio.Env(**bounded_gdal_cache()), \
            rasterio.open(path_a) as src_a:
        with file_errors(path_b), rasterio.open(path_b) as src_b:
            _check_pair(src_a, src_b, path_a, path_b)
            resampled = not change.same_grid(src_a, src_b)
            note = (f"Map B was resampled to map A's grid ({src_a.crs.to_string()}, "
                    f"{abs(src_a.transform.a):g} m pixels) by nearest neighbour."
                    if resampled else "Both maps share one grid; compared pixel by pixel.")
            feedback.info(note)
            with file_errors(request.output), atomic_output(request.output, ".tif") \
                    as tmp:
                counts = change.write_change(
                    src_a, src_b, tmp, request.strip_rows, names=(path_a, path_b),
                    feedback=feedback.part(0, 70 if request.zones else 100))
                pixel = abs(src_a.transform.a * src_a.transform.e)
                totals = _areas(counts[:4], pixel)
                totals["nodata_pixels"] = int(counts[4])
                rows, zone_features = [], []
                if request.zones is not None:
                    zone_features = request.zones.in_crs(src_a.crs, keep_empty=True)
                    with rasterio.open(tmp) as changed:
                        rows = _zones(request, zone_features, changed, pixel,
                                      feedback.part(70, 100))
                    if not any(r["green_a_m2"] is not None for r in rows):
                        warnings.append("no zone overlaps the maps: check that the "
                                        "zones and the maps cover the same place")
    if counts[:4].sum() == 0:
        warnings.append("the two maps share no pixel with data: nothing was compared")
    result = ChangeResult(request.output, totals, rows, resampled, note, request,
                          warnings)
    for warning in warnings:
        feedback.warning(warning)
    feedback.info(result.describe())
    _write(result, [g for g, _ in zone_features])
    return result


def _check_pair(src_a, src_b, path_a, path_b):
    from rasterio.coords import disjoint_bounds
    from rasterio.warp import transform_bounds
    for src, path in ((src_a, path_a), (src_b, path_b)):
        if src.crs is None:
            raise UgsError(f"{path} has no CRS: assign it (the maps must be placed on "
                           "one another)")
        if src.count != 1 or src.dtypes[0] != "uint8":
            raise UgsError(f"{path} is not a class map (one uint8 band: 1 green, 0 "
                           "other, 255 nodata); give the output of Extract urban green "
                           "space")
    if not src_a.crs.is_projected:
        raise UgsError(f"{path_a} is in a geographic CRS (degrees); areas need metres: "
                       "reproject it (GDAL Warp) to a metric CRS such as the local UTM "
                       "zone")
    if disjoint_bounds(src_a.bounds, transform_bounds(src_b.crs, src_a.crs,
                                                      *src_b.bounds)):
        raise UgsError(f"{path_a} and {path_b} do not overlap: give two maps of the "
                       "same place")


def _areas(counts, pixel_area):
    other, green, gain, loss = (float(c) * pixel_area for c in counts)
    return {"stable_other_m2": other, "stable_green_m2": green, "gain_m2": gain,
            "loss_m2": loss, "net_m2": gain - loss, "green_a_m2": green + loss,
            "green_b_m2": green + gain}


def _zones(request, features, changed, pixel_area, feedback):
    """Per zone (features in the change raster's CRS): areas and patches."""
    from ..planning.change import zone_change
    rows = []
    for i, (geom, attrs) in enumerate(features, start=1):
        feedback.check_cancelled("no change raster was written")
        row = {"id": attrs.get(request.id_field, i) if request.id_field else i,
               **{k: None for k in CHANGE_ZONE_FIELDS}}
        if geom is not None:
            z = zone_change(changed, geom, request.strip_rows, feedback=feedback)
            if sum(z["counts"]):
                areas = _areas(z["counts"], pixel_area)
                row.update({k: areas[k] for k in CHANGE_ZONE_FIELDS[:5]},
                           gain_patches=z["gain_patches"],
                           loss_patches=z["loss_patches"])
        rows.append(row)
        feedback.progress(100.0 * i / len(features))
    return rows


def _write(result, zone_geometries):
    """The CSV and the report; ``zone_geometries`` already in map A's CRS."""
    request = result.request
    with file_errors("the report"):
        if request.table and result.zones:
            write_table(request.table, ("id",) + CHANGE_ZONE_FIELDS, result.zones)
        if request.report:
            from ..planning.report import change_report
            write_text(request.report, change_report(result, zone_geometries))
