"""Green-space statistics by zone: area, coverage, patches, per capita."""
from __future__ import annotations

from dataclasses import dataclass

from ..fields import check_no_clash, STATISTICS_FIELDS
from ..errors import file_errors, UgsError
from ..feedback import Feedback, SILENT
from ..vectors import VectorLayer
from . import spec
from .common import require_file



@dataclass
class StatisticsRequest:
    map: str                       # class raster: 1 green, 0 other, 255 nodata
    zones: VectorLayer
    id_field: str | None = None    # None: feature order (1, 2, ...)
    population_field: str | None = None


OPTIONS = spec.bind(
    StatisticsRequest,
    spec.Option("id_field", "ID_FIELD", "Zone name field (empty = feature order)",
                "field", parent="ZONES"),
    spec.Option("population_field", "POPULATION_FIELD", "Population field", "field",
                parent="ZONES", field_type="numeric"),
)


@dataclass
class StatisticsResult:
    rows: list                     # one dict per zone feature, in the layer's order

    @property
    def zones_with_data(self) -> int:
        return sum(1 for r in self.rows if r["mapped_m2"])


def run(request: StatisticsRequest, feedback: Feedback = SILENT) -> StatisticsResult:
    """All zones are computed before anything is returned, so a cancelled run yields
    nothing (raises ``Cancelled``)."""
    import rasterio

    from ..planning.zonal import zone_statistics
    path = require_file(request.map, "class raster")
    zones = request.zones
    zones.require_features("zone layer")
    zones.require_fields((request.id_field, request.population_field), "zone layer")
    check_no_clash(zones, [name for name, _ in STATISTICS_FIELDS], "zones")
    rows = []
    with file_errors(path):
        with rasterio.open(path) as src:
            if src.crs is None and zones.crs is not None:
                raise UgsError(f"{path} has no CRS, so the zones cannot be placed on it")
            features = zones.in_crs(src.crs, keep_empty=True)
            for i, (geom, attrs) in enumerate(features, start=1):
                feedback.check_cancelled("no statistics were written")
                row = {"zone": attrs.get(request.id_field, i) if request.id_field else i}
                row.update({name: None for name, _ in STATISTICS_FIELDS})
                if geom is not None:
                    s = zone_statistics(src, geom, _population(
                        attrs.get(request.population_field)),
                        feedback=feedback)
                    row.update(zip((name for name, _ in STATISTICS_FIELDS), (
                        s.mapped_area, s.green_area, s.coverage, s.patches,
                        s.mean_patch_area, s.largest_patch_area, s.green_per_person)))
                rows.append(row)
                feedback.progress(100.0 * i / len(features))
    result = StatisticsResult(rows)
    if not result.zones_with_data:
        feedback.warning("no zone covers a mapped pixel: check that the zones and the "
                         "map cover the same place")
    return result


def _population(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None
