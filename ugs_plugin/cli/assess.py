"""``python -m ugs_plugin assess``: accuracy of a class map against reference data."""
from __future__ import annotations

import json

from ..core.workflows.assess import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import optional_layer, read_layer


def add_parser(sub):
    asx = sub.add_parser("assess", help="accuracy of a class map against reference data",
                         description="Compare a class raster (1 green, 0 other, 255 "
                         "nodata) with reference polygons (rasterized on the map's "
                         "grid) or points (sampled), any CRS.")
    asx.add_argument("map")
    asx.add_argument("reference")
    add_options(asx, OPTIONS)
    asx.add_argument("--boundary", help="compare only inside these polygons")
    asx.add_argument("--report", help="also write the HTML accuracy report here")
    asx.add_argument("--csv", help="also write the confusion matrix as CSV here")
    add_output_arguments(asx)
    asx.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import assess
    result = assess.run(build_request(
        args, OPTIONS, map=args.map, reference=read_layer(args.reference),
        boundary=optional_layer(args.boundary), report=args.report, table=args.csv),
        feedback)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0
