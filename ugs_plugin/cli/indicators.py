"""``python -m ugs_plugin indicators``: 3-30-300 green-space indicators by zone."""
from __future__ import annotations

import json

from ..core import fields
from ..core.workflows.indicators import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import optional_layer, read_layer, write_layer


def add_parser(sub):
    ind = sub.add_parser(
        "indicators", help="3-30-300 green-space indicators by zone",
        description="Per zone: green cover (share mapped green, against a target), "
        "buildings within a distance of a park (green patches of the map of at least "
        "--min-park-ha, or --parks polygons), straight or along --network roads, mean "
        "distance, and per resident with --population-field (on the buildings). Same "
        "engine as 'Green space indicators by zone' in QGIS.")
    ind.add_argument("map", help="green-space class raster (1 green, 0 other, 255 "
                     "nodata), projected CRS")
    ind.add_argument("zones", help="polygons (any format/CRS)")
    ind.add_argument("--buildings", help="building points or footprints")
    ind.add_argument("--parks", help="park polygons instead of the map's patches")
    ind.add_argument("--network", help="road lines: distances along them")
    add_options(ind, OPTIONS)
    ind.add_argument("--report", help="planner report to write (.html)")
    ind.add_argument("--csv", help="zone table to write (.csv)")
    ind.add_argument("--out-zones", help="zones with the indicators (.gpkg)")
    ind.add_argument("--out-buildings", help="buildings with their distance (.gpkg)")
    add_output_arguments(ind, '{"zones": [{"id", "green_cover", "buildings", '
                         '"buildings_within", "share_within", "mean_distance_m"}]}')
    ind.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import indicators
    zones = read_layer(args.zones)
    buildings = optional_layer(args.buildings)
    result = indicators.run(build_request(
        args, OPTIONS, map=args.map, zones=zones, buildings=buildings,
        parks=optional_layer(args.parks), network=optional_layer(args.network),
        report=args.report, table=args.csv), feedback)
    if args.out_zones:
        write_layer(args.out_zones, zones,
                    fields.indicator_zone_fields(bool(result.request.population_field)),
                    result.zones)
    if args.out_buildings and buildings is not None:
        write_layer(args.out_buildings, buildings,
                    fields.building_fields(bool(result.request.network)), result.buildings)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0
