"""``python -m ugs_plugin mask``: set pixels outside an urban boundary to nodata."""
from __future__ import annotations

import json

from .options import add_output_arguments
from .vector_io import read_layer


def add_parser(sub):
    mk = sub.add_parser("mask", help="set pixels outside an urban boundary to nodata")
    mk.add_argument("image")
    mk.add_argument("output")
    mk.add_argument("--boundary", required=True, help="polygons (any format/CRS)")
    mk.add_argument("--buffer", type=float, default=0.0, help="metres")
    mk.add_argument("--all-touched", action="store_true")
    add_output_arguments(mk)
    mk.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import mask
    result = mask.run(mask.MaskRequest(
        image=args.image, output=args.output, boundary=read_layer(args.boundary),
        buffer_m=args.buffer, all_touched=args.all_touched), feedback)
    print(json.dumps(result.__dict__) if args.json else
          f"{result.output}: {result.inside_pixels:,} of {result.pixels:,} pixels "
          "inside the boundary")
    return 0
