"""``python -m ugs_plugin change``: green-space change between two class maps."""
from __future__ import annotations

import json

from ..core import fields
from ..core.workflows.change import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import optional_layer, write_layer


def add_parser(sub):
    chg = sub.add_parser(
        "change", help="green-space change between two class maps",
        description="Change raster on MAP_A's grid (0 stable other, 1 stable green, 2 "
        "gain, 3 loss, 255 nodata; MAP_B resampled by nearest neighbour when the grids "
        "differ) and, with --zones, gained / lost / net area and patches per zone.")
    chg.add_argument("map_a", help="class map before")
    chg.add_argument("map_b", help="class map after")
    chg.add_argument("output", help="change raster to write (.tif)")
    chg.add_argument("--zones", help="polygons (any format/CRS)")
    add_options(chg, OPTIONS)
    chg.add_argument("--report", help="change report to write (.html)")
    chg.add_argument("--csv", help="zone table to write (.csv)")
    chg.add_argument("--out-zones", help="zones with the change (.gpkg)")
    add_output_arguments(chg, "one JSON object: totals (m²) and zones")
    chg.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import change
    zones = optional_layer(args.zones)
    result = change.run(build_request(
        args, OPTIONS, map_a=args.map_a, map_b=args.map_b, output=args.output,
        zones=zones, report=args.report, table=args.csv), feedback)
    if args.out_zones and zones is not None:
        write_layer(args.out_zones, zones, fields.CHANGE_ZONE_FIELDS, result.zones)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0
