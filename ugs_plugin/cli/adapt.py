"""``python -m ugs_plugin adapt``: adapt a model to the imagery of a region
(adversarial, no labels needed)."""
from __future__ import annotations

import json

from ..core.config import AdaptConfig
from .options import add_device_argument, add_output_arguments, values
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
    ad.add_argument("--model", help="base model (default: the bundled model)")
    ad.add_argument("--source", help="labelled source tiles, UGSet layout (default: "
                    "the shipped sample)")
    # Defaults (None) come from AdaptConfig, shown in the help.
    ac = AdaptConfig()
    ad.add_argument("--iterations", type=int, help=f"default {ac.iterations}, a quick run")
    ad.add_argument("--tile-size", type=int, help=f"default {ac.tile}")
    ad.add_argument("--batch-size", type=int, help=f"tiles per domain, default "
                    f"{ac.batch_size}")
    ad.add_argument("--lambda-adv", type=float, help=f"adversarial weight, default "
                    f"{ac.lambda_adv:g}")
    ad.add_argument("--lr-generator", type=float, help=f"default {ac.lr_generator:g}")
    ad.add_argument("--lr-discriminator", type=float,
                    help=f"default {ac.lr_discriminator:g}")
    ad.add_argument("--no-colour-match", action="store_true",
                    help="do not recolour source tiles to the region's colours")
    ad.add_argument("--reference", help="reference polygons inside the region (extra "
                    "supervision)")
    ad.add_argument("--field", default="class", help="class field of --reference")
    ad.add_argument("--green-values", default="1")
    ad.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    add_device_argument(ad)
    ad.add_argument("--seed", type=int, default=ac.seed)
    ad.add_argument("--map", help="also map the region with the adapted model here")
    ad.add_argument("--base-map", help="also map the region with the base model here")
    add_output_arguments(ad)
    ad.set_defaults(func=run)


def run(args, feedback):
    from ..core.config import AdaptConfig
    from ..core.mapping.imagery import parse_band_list
    from ..core.workflows import adapt
    given = {"iterations": args.iterations, "batch_size": args.batch_size,
             "tile": args.tile_size, "lambda_adv": args.lambda_adv,
             "lr_generator": args.lr_generator, "lr_discriminator": args.lr_discriminator}
    result = adapt.run(adapt.AdaptRequest(
        image=args.image, region=read_layer(args.region), output=args.output,
        model=args.model, source=args.source, device=args.device,
        bands=parse_band_list(args.bands), reference=optional_layer(args.reference),
        class_field=args.field, green_values=values(args.green_values),
        adapted_map=args.map, base_map=args.base_map,
        config=AdaptConfig(match_colours=not args.no_colour_match, seed=args.seed,
                           **{k: v for k, v in given.items() if v is not None})),
        feedback)
    info = result.adaptation
    summary = {"model": result.output, **{k: info[k] for k in
                                           ("losses_first", "losses_last", "seconds")},
               **{f"{k}_map": v for k, v in result.maps.items()}}
    print(json.dumps(summary) if args.json else
          f"{result.output}: adapted in {info['seconds']:.0f} s; losses "
          f"{info['losses_first']} -> {info['losses_last']}")
    return 0
