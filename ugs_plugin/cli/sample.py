"""``python -m ugs_plugin sample``: stratified random validation points over a class
map."""
from __future__ import annotations

import json

from ..core.workflows.sampling import SampleRequest
from .options import add_output_arguments
from .vector_io import optional_layer, write_points


def add_parser(sub):
    sd = SampleRequest("")
    sp = sub.add_parser("sample", help="stratified random validation points over a "
                        "class map", description="Draw stratified random points over "
                        "MAP (strata = mapped classes) and write them to OUTPUT (.gpkg) "
                        "with an empty 'class' field to label; assess then gives "
                        "stratified estimates (Olofsson et al. 2014). Without point "
                        "counts, the sample size comes from --target-se.")
    sp.add_argument("map")
    sp.add_argument("output", help="GeoPackage to write")
    sp.add_argument("--boundary", help="sample only inside these polygons")
    sp.add_argument("--points-green", type=int, default=sd.points_green)
    sp.add_argument("--points-other", type=int, default=sd.points_other)
    sp.add_argument("--target-se", type=float, default=sd.target_se,
                    help=f"target standard error of overall accuracy ({sd.target_se})")
    sp.add_argument("--ua-green", type=float, default=sd.expected_ua_green,
                    help="expected user's accuracy of green, for the sample size "
                    f"({sd.expected_ua_green})")
    sp.add_argument("--ua-other", type=float, default=sd.expected_ua_other,
                    help="expected user's accuracy of other, for the sample size "
                    f"({sd.expected_ua_other})")
    sp.add_argument("--min-per-stratum", type=int, default=sd.min_per_stratum)
    sp.add_argument("--seed", type=int, default=sd.seed)
    add_output_arguments(sp)
    sp.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import sampling
    result = sampling.run(sampling.SampleRequest(
        map=args.map, boundary=optional_layer(args.boundary),
        points_green=args.points_green, points_other=args.points_other,
        target_se=args.target_se, expected_ua_green=args.ua_green,
        expected_ua_other=args.ua_other, min_per_stratum=args.min_per_stratum,
        seed=args.seed), feedback)
    write_points(args.output, result)
    counts = {("green" if k else "other"): sum(p[2] == k for p in result.points)
              for k in (1, 0)}
    print(json.dumps({"output": args.output, "points": len(result.points), **counts})
          if args.json else f"{args.output}: {len(result.points)} points "
          f"(green {counts['green']}, other {counts['other']}); label the 'class' "
          "field, then run assess")
    return 0
