"""``python -m ugs_plugin assess``: accuracy of a class map against reference data."""
from __future__ import annotations

import json

from .options import add_output_arguments, values
from .vector_io import optional_layer, read_layer


def add_parser(sub):
    asx = sub.add_parser("assess", help="accuracy of a class map against reference data",
                         description="Compare a class raster (1 green, 0 other, 255 "
                         "nodata) with reference polygons (rasterized on the map's "
                         "grid) or points (sampled), any CRS.")
    asx.add_argument("map")
    asx.add_argument("reference")
    asx.add_argument("--field", required=True, help="field holding the reference class")
    asx.add_argument("--green-values", default="1",
                     help="values of FIELD meaning green space (default 1)")
    asx.add_argument("--boundary", help="compare only inside these polygons")
    asx.add_argument("--report", help="also write the HTML accuracy report here")
    asx.add_argument("--csv", help="also write the confusion matrix as CSV here")
    add_output_arguments(asx)
    asx.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import assess
    result = assess.run(assess.AssessRequest(
        map=args.map, reference=read_layer(args.reference), class_field=args.field,
        green_values=values(args.green_values), boundary=optional_layer(args.boundary),
        report=args.report, table=args.csv), feedback)
    print(json.dumps(result.summary()) if args.json else result.describe())
    return 0
