"""``python -m ugs_plugin adapt``: adapt a model to the imagery of a region
(adversarial, no labels needed)."""
from __future__ import annotations

import json

from ..core.workflows.adapt import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import optional_layer, read_layer


def add_parser(sub):
    ad = sub.add_parser("adapt", help="adapt a model to the imagery of a region "
                        "(adversarial, no labels needed)",
                        description="Fine-tune a model to IMAGE inside REGION "
                        "(polygons, any format/CRS) by output-space adversarial "
                        "training against labelled source tiles, and write OUTPUT "
                        "(.pt + card). Same engine as 'Adapt model to region' in QGIS.")
    ad.add_argument("image")
    ad.add_argument("region")
    ad.add_argument("output", help="adapted model file to write (.pt, card beside it)")
    ad.add_argument("--reference", help="reference polygons inside the region (extra "
                    "supervision)")
    add_options(ad, OPTIONS)
    ad.add_argument("--map", help="also map the region with the adapted model here")
    ad.add_argument("--base-map", help="also map the region with the base model here")
    add_output_arguments(ad)
    ad.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import adapt
    result = adapt.run(build_request(
        args, OPTIONS, image=args.image, region=read_layer(args.region),
        reference=optional_layer(args.reference), output=args.output,
        adapted_map=args.map, base_map=args.base_map), feedback)
    info = result.adaptation
    summary = {"model": result.output, **{k: info[k] for k in
                                           ("losses_first", "losses_last", "seconds")},
               **{f"{k}_map": v for k, v in result.maps.items()}}
    print(json.dumps(summary) if args.json else
          f"{result.output}: adapted in {info['seconds']:.0f} s; losses "
          f"{info['losses_first']} -> {info['losses_last']}")
    return 0
