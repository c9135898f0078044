"""Green-space indicators by zone, after the 3-30-300 rule (Konijnendijk, 2021): green
cover per zone (the "30"), homes within a walk of a park (the "300"), green area per
inhabitant.

Green cover is the share of mapped pixels classed green: the map does not tell trees
from grass, so it is green cover, not tree canopy. Parks are the 8-connected green
patches of the map of at least ``min_park_ha`` (or the polygons of a park layer). A
building is measured from its point (a footprint: its centroid, or a point inside
it) to the nearest park edge, straight or along the roads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..fields import (BUILDING_FIELDS, check_no_clash, INDICATOR_ZONE_FIELDS,
                      indicator_zone_fields, INDICATORS, NETWORK_FIELDS,
                      RESIDENT_FIELDS)
from ..errors import check_output_path, file_errors, UgsError
from ..feedback import Feedback, SILENT
from ..mapping.imagery import bounded_gdal_cache
from ..vectors import VectorLayer
from . import spec
from .common import require_file, write_table, write_text



@dataclass
class IndicatorsRequest:
    map: str                              # class raster: 1 green, 0 other, 255 nodata
    zones: VectorLayer
    id_field: str | None = None           # None: feature order (1, 2, ...)
    buildings: VectorLayer | None = None  # points or footprints
    population_field: str | None = None   # residents per building
    parks: VectorLayer | None = None      # park polygons instead of the map's patches
    min_park_ha: float = 0.5
    distance_m: float = 300.0
    network: VectorLayer | None = None    # road lines: distances along them
    cover_target: float = 0.30
    indicator: str = "green_cover"        # mapped in the report (and styled on load)
    report: str | None = None             # HTML
    table: str | None = None              # CSV of the zones
    strip_rows: int = 1024                # rows read at once


OPTIONS = spec.bind(
    IndicatorsRequest,
    spec.Option("id_field", "ID_FIELD", "Zone name field (empty = feature order)",
                "field", parent="ZONES"),
    spec.Option("population_field", "POPULATION_FIELD", "Residents per building",
                "field", parent="BUILDINGS", field_type="numeric"),
    spec.Option("min_park_ha", "MIN_PARK_HA", "Smallest park (ha)", "float",
                minimum=0.0),
    spec.Option("distance_m", "DISTANCE", "Walking distance to a park (m)", "float",
                minimum=1.0),
    spec.Option("cover_target", "COVER_TARGET", "Green cover target (%)", "float",
                minimum=0.01, maximum=0.99, scale=100.0,
                range_hint="is a percentage (30 for 30 %)"),
    spec.Option("indicator", "INDICATOR", "Indicator to map", "choice",
                choices=tuple(INDICATORS), choice_labels=tuple(INDICATORS.values()),
                help="in the report, and styled on load"),
)


@dataclass
class IndicatorsResult:
    zones: list                      # one dict per zone feature, in the layer's order
    buildings: list                  # one dict per building feature, in order
    parks: int                       # parks (patches, or polygons of the park layer)
    park_source: str
    distance_kind: str               # "straight line" or "road network"
    request: IndicatorsRequest
    warnings: list = field(default_factory=list)

    def summary(self) -> dict:
        keys = ("green_cover", "buildings", "buildings_within", "share_within",
                "mean_distance_m")
        if self.request.population_field:
            keys += RESIDENT_FIELDS
        return {"zones": [{"id": z["id"], **{k: z[k] for k in keys}}
                          for z in self.zones],
                "distance_m": self.request.distance_m,
                "min_park_ha": self.request.min_park_ha,
                "distance": self.distance_kind, "parks": self.park_source}

    def describe(self) -> str:
        lines = []
        for z in self.zones:
            text = f"zone {z['id']}: green cover " + _percent(z["green_cover"])
            if z["buildings"] is not None:
                text += (f", {z['buildings_within']}/{z['buildings']} buildings within "
                         f"{self.request.distance_m:g} m")
            lines.append(text)
        return "\n".join(lines)


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.1f} %"


def run(request: IndicatorsRequest, feedback: Feedback = SILENT) -> IndicatorsResult:
    """Everything is computed before anything is written, so a cancelled run leaves
    no output (raises ``Cancelled``)."""
    import rasterio

    from ..planning import access
    from ..planning.zonal import zone_statistics
    path = require_file(request.map, "class raster")
    _check(request, path)
    zones = request.zones
    zones.require_features("zone layer")
    zones.require_fields((request.id_field,), "zone layer")
    check_no_clash(zones, INDICATOR_ZONE_FIELDS + RESIDENT_FIELDS, "zones")
    check_no_clash(request.buildings, BUILDING_FIELDS + NETWORK_FIELDS, "buildings")
    if request.buildings is not None:
        request.buildings.require_features("building layer")
        request.buildings.require_fields((request.population_field,), "building layer")
    elif request.population_field:
        raise UgsError("a population field needs a building layer holding it")
    warnings = []
    with file_errors(path), rasterio.Env(**bounded_gdal_cache()):
        with rasterio.open(path) as src:
            if src.crs is None:
                raise UgsError(f"{path} has no CRS, so zones and buildings cannot be "
                               "placed on it; assign the map's CRS first")
            if not src.crs.is_projected:
                raise UgsError(f"{path} is in a geographic CRS (degrees): hectares and "
                               "metres need a projected one; reproject the map (GDAL "
                               "Warp) to a metric CRS such as the local UTM zone")
            part = feedback.part(0, 40)
            if request.parks is not None:
                request.parks.require_features("park layer")
                minimum = request.min_park_ha * 1e4
                polygons = [g for g, _ in request.parks.in_crs(src.crs)
                            if g.geom_type in ("Polygon", "MultiPolygon")]
                parks = [g for g in polygons if g.area >= minimum]
                count = len(parks)
                source = (f"{len(parks)} of {len(polygons)} polygons of "
                          f"'{request.parks.name}' of at least {request.min_park_ha:g} ha")
            else:
                feedback.info(f"Finding green patches of at least "
                              f"{request.min_park_ha:g} ha…")
                parks, count = access.large_patches(
                    src, request.min_park_ha * 1e4, request.strip_rows, feedback=part)
                source = (f"{count} 8-connected green patch(es) of the map of at least "
                          f"{request.min_park_ha:g} ha")
            if request.buildings is not None and not parks:
                warnings.append(f"no park ({source}): every distance is infinite")
            zone_rows = list(zones.in_crs(src.crs, keep_empty=True))
            homes = _buildings(request, src.crs, zone_rows, parks,
                               feedback.part(40, 70), warnings)
            rows = []
            zone_part = feedback.part(70, 100)
            for i, (geom, attrs) in enumerate(zone_rows, start=1):
                feedback.check_cancelled("no indicators were written")
                zone_id = attrs.get(request.id_field, i) if request.id_field else i
                row = {"id": zone_id, **{k: None for k in INDICATOR_ZONE_FIELDS + RESIDENT_FIELDS}}
                if geom is not None:
                    s = zone_statistics(src, geom, strip_rows=request.strip_rows,
                                        feedback=feedback)
                    row.update(green_cover=s.coverage, green_m2=s.green_area,
                               mapped_m2=s.mapped_area)
                    if s.coverage is not None:
                        row["below_cover_target"] = int(s.coverage < request.cover_target)
                if homes is not None:
                    row.update(_access(homes, i - 1, request, row["green_m2"]))
                rows.append(row)
                zone_part.progress(100.0 * i / len(zone_rows))
    result = IndicatorsResult(
        rows, [] if homes is None else [
            {"zone_id": h["zone_id"], "distance_m": _finite(h["distance"]),
             "within": None if h["point"] is None else int(
                 h["distance"] <= request.distance_m),
             **({"straight_m": _finite(h["straight"])} if request.network else {})}
            for h in homes],
        count, source, "road network" if request.network else "straight line",
        request, warnings)
    if not any(z["mapped_m2"] for z in rows):
        warnings.append("no zone covers a mapped pixel: check that the zones and the "
                        "map cover the same place")
    for warning in warnings:
        feedback.warning(warning)
    _write(result, path, [g for g, _ in zone_rows])
    return result


def _check(request, map_path):
    if request.min_park_ha < 0 or request.distance_m <= 0:
        raise UgsError("the minimum park size must be ≥ 0 ha and the distance > 0 m")
    if not 0 < request.cover_target < 1:
        raise UgsError(f"the green cover target is a share between 0 and 1 (0.30 for "
                       f"30 %), not {request.cover_target:g}")
    if request.indicator not in INDICATORS:
        raise UgsError(f"unknown indicator '{request.indicator}'; choose one of "
                       f"{', '.join(INDICATORS)}")
    if request.indicator in ("share_residents_within", "green_m2_per_resident") and \
            not request.population_field:
        raise UgsError(f"the indicator {request.indicator} needs a population field")
    if request.indicator in ("share_within", "mean_distance_m") and \
            request.buildings is None:
        raise UgsError(f"the indicator {request.indicator} needs a building layer")
    for out, suffixes in ((request.report, (".html", ".htm")), (request.table, (".csv",))):
        if out:
            check_output_path(out, [map_path], suffixes)


def _finite(value):
    return None if value is None or math.isinf(value) else float(value)


def _population(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if value > 0 else 0.0


def _buildings(request, crs, zone_rows, parks, feedback, warnings):
    """Per building: its point, zones, distance (and straight distance); None without
    a building layer."""
    if request.buildings is None:
        return None
    from ..planning import access
    index = access.ParkIndex(parks)
    zone_at = [i for i, (g, _) in enumerate(zone_rows) if g is not None]
    zone_geoms = [zone_rows[i][0] for i in zone_at]
    tree = access.SpatialIndex(zone_geoms) if zone_geoms else None
    homes = []
    for geom, attrs in request.buildings.in_crs(crs, keep_empty=True):
        point = None if geom is None else access.home_point(geom)
        inside = [] if point is None or tree is None else sorted(
            zone_at[k] for k in tree.query(point) if zone_geoms[k].covers(point))
        homes.append({"point": point, "zones": inside,
                      "population": _population(attrs.get(request.population_field))
                      if request.population_field else 1.0})
    for h in homes:
        h["zone_id"] = None
        if h["zones"]:
            attrs = zone_rows[h["zones"][0]][1]
            h["zone_id"] = attrs.get(request.id_field, h["zones"][0] + 1) \
                if request.id_field else h["zones"][0] + 1
    placed = [h for h in homes if h["point"] is not None]
    for i, h in enumerate(placed):
        if i % 500 == 0:
            feedback.check_cancelled("no indicators were written")
            feedback.progress(50.0 * i / len(placed))
        h["straight"] = index.distance(h["point"])
    for h in homes:
        if h["point"] is None:
            h["straight"] = h["distance"] = None
    if request.network is not None:
        lines = [g for g, _ in request.network.in_crs(crs)
                 if g.geom_type in ("LineString", "MultiLineString")]
        if not lines:
            raise UgsError(f"the road layer '{request.network.name}' has no lines")
        feedback.info("Routing on the road network…")
        network = access.RoadNetwork(lines)
        along = access.network_distances([h["point"] for h in placed], index, network,
                                         feedback=feedback)
        for h, d in zip(placed, along):
            h["distance"] = float(d)
        unreachable = sum(math.isinf(h["distance"]) for h in placed)
        if unreachable and parks:
            warnings.append(f"{unreachable} building(s) cannot reach a park along the "
                            "roads (a road piece not joined to the others?)")
    else:
        for h in placed:
            h["distance"] = h["straight"]
    feedback.progress(100)
    outside = sum(1 for h in placed if not h["zones"])
    if outside:
        warnings.append(f"{outside} building(s) lie in no zone: they are in the "
                        "building output but in no zone's figures")
    return homes


def _access(homes, zone_index, request, green_m2):
    mine = [h for h in homes if zone_index in h["zones"]]
    within = [h for h in mine if h["distance"] <= request.distance_m]
    finite = [h["distance"] for h in mine if not math.isinf(h["distance"])]
    row = {"buildings": len(mine), "buildings_within": len(within),
           "share_within": len(within) / len(mine) if mine else None,
           "mean_distance_m": sum(finite) / len(finite) if finite else None}
    if request.population_field:
        residents = sum(h["population"] for h in mine)
        inside = sum(h["population"] for h in within)
        row.update(residents=residents, residents_within=inside,
                   share_residents_within=inside / residents if residents else None,
                   green_m2_per_resident=(green_m2 / residents
                                          if residents and green_m2 is not None
                                          else None))
    return row




def _write(result, map_path, zone_geometries):
    """The CSV and the report; ``zone_geometries`` already in the map's CRS."""
    request = result.request
    with file_errors("the report"):
        if request.table:
            write_table(request.table, ("id",) + indicator_zone_fields(bool(request.population_field)),
                        result.zones)
        if request.report:
            from ..planning.report import indicators_report
            write_text(request.report,
                       indicators_report(result, zone_geometries, map_path))
