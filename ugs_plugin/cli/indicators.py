"""``python -m ugs_plugin indicators``: 3-30-300 green-space indicators by zone."""
from __future__ import annotations

import json

from ..core import fields
from .options import add_output_arguments
from .vector_io import optional_layer, read_layer, write_layer


def add_parser(sub):
    from ..core.fields import INDICATORS
    from ..core.workflows.indicators import IndicatorsRequest
    di = IndicatorsRequest(map="", zones=None)
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
    ind.add_argument("--id-field", help="zone name field (default: feature order)")
    ind.add_argument("--buildings", help="building points or footprints")
    ind.add_argument("--population-field", help="residents per building")
    ind.add_argument("--parks", help="park polygons instead of the map's patches")
    ind.add_argument("--min-park-ha", type=float, default=di.min_park_ha,
                     help=f"smallest park in hectares ({di.min_park_ha:g})")
    ind.add_argument("--distance", type=float, default=di.distance_m,
                     help=f"walking distance to a park in metres ({di.distance_m:g})")
    ind.add_argument("--network", help="road lines: distances along them")
    ind.add_argument("--cover-target", type=float,
                     help=f"green cover target in percent ({100 * di.cover_target:g})")
    ind.add_argument("--indicator", default=di.indicator, choices=tuple(INDICATORS),
                     help=f"indicator mapped in the report ({di.indicator})")
    ind.add_argument("--report", help="planner report to write (.html)")
    ind.add_argument("--csv", help="zone table to write (.csv)")
    ind.add_argument("--out-zones", help="zones with the indicators (.gpkg)")
    ind.add_argument("--out-buildings", help="buildings with their distance (.gpkg)")
    add_output_arguments(ind, '{"zones": [{"id", "green_cover", "buildings", '
                         '"buildings_within", "share_within", "mean_distance_m"}]}')
    ind.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import indicators
    defaults = indicators.IndicatorsRequest(map="", zones=None)
    if args.cover_target is not None and not 1 <= args.cover_target <= 99:
        from ..core.errors import UgsError
        raise UgsError(f"--cover-target is a percentage (30 for 30 %), not "
                       f"{args.cover_target:g}")
    zones = read_layer(args.zones)
    buildings = optional_layer(args.buildings)
    result = indicators.run(indicators.IndicatorsRequest(
        map=args.map, zones=zones, id_field=args.id_field, buildings=buildings,
        population_field=args.population_field, parks=optional_layer(args.parks),
        min_park_ha=args.min_park_ha, distance_m=args.distance,
        network=optional_layer(args.network),
        cover_target=defaults.cover_target if args.cover_target is None
        else args.cover_target / 100.0,
        indicator=args.indicator, report=args.report, table=args.csv), feedback)
    if args.out_zones:
        write_layer(args.out_zones, zones,
                    fields.indicator_zone_fields(bool(result.request.population_field)),
                    result.zones)
    if args.out_buildings and buildings is not None:
        write_layer(args.out_buildings, buildings,
                    fields.building_fields(bool(result.request.network)), result.buildings)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0
