"""``python -m ugs_plugin mask``: set pixels outside an urban boundary to nodata."""
from __future__ import annotations

import json

from ..core.workflows.mask import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import read_layer


def add_parser(sub):
    mk = sub.add_parser("mask", help="set pixels outside an urban boundary to nodata")
    mk.add_argument("image")
    mk.add_argument("output")
    mk.add_argument("--boundary", required=True, help="polygons (any format/CRS)")
    add_options(mk, OPTIONS)
    add_output_arguments(mk)
    mk.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import mask
    result = mask.run(build_request(args, OPTIONS, image=args.image, output=args.output,
                                    boundary=read_layer(args.boundary)), feedback)
    print(json.dumps(result.__dict__) if args.json else
          f"{result.output}: {result.inside_pixels:,} of {result.pixels:,} pixels "
          "inside the boundary")
    return 0
