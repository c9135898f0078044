"""``python -m ugs_plugin sample``: stratified random validation points over a class
map."""
from __future__ import annotations

import json

from ..core.workflows.sampling import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import optional_layer, write_points


def add_parser(sub):
    sp = sub.add_parser("sample", help="stratified random validation points over a "
                        "class map", description="Draw stratified random points over "
                        "MAP (strata = mapped classes) and write them to OUTPUT (.gpkg) "
                        "with an empty 'class' field to label; assess then gives "
                        "stratified estimates (Olofsson et al. 2014). Without point "
                        "counts, the sample size comes from --target-se.")
    sp.add_argument("map")
    sp.add_argument("output", help="GeoPackage to write")
    sp.add_argument("--boundary", help="sample only inside these polygons")
    add_options(sp, OPTIONS)
    add_output_arguments(sp)
    sp.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import sampling
    result = sampling.run(build_request(args, OPTIONS, map=args.map,
                                        boundary=optional_layer(args.boundary)),
                          feedback)
    write_points(args.output, result)
    counts = {("green" if k else "other"): sum(p[2] == k for p in result.points)
              for k in (1, 0)}
    print(json.dumps({"output": args.output, "points": len(result.points), **counts})
          if args.json else f"{args.output}: {len(result.points)} points "
          f"(green {counts['green']}, other {counts['other']}); label the 'class' "
          "field, then run assess")
    return 0
