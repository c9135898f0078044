"""``python -m ugs_plugin finetune``: fine-tune a model on reference polygons and
report held-out F1 before/after."""
from __future__ import annotations

import json

from ..core.config import FinetuneConfig
from .options import add_device_argument, add_output_arguments, values
from .vector_io import read_layer


def add_parser(sub):
    ft = sub.add_parser("finetune", help="fine-tune a model on reference polygons and "
                        "report held-out F1 before/after",
                        description="Fine-tune a model on green / not-green polygons "
                        "(REFERENCE, any format/CRS) drawn over IMAGE, holding out a "
                        "share of them to score the base and the fine-tuned model, and "
                        "write OUTPUT (.pt + card). Same engine as 'Fine-tune model on "
                        "reference polygons' in QGIS.")
    ft.add_argument("image")
    ft.add_argument("reference")
    ft.add_argument("output", help="fine-tuned model file to write (.pt, card beside it)")
    ft.add_argument("--field", default="class", help="class field (default: class)")
    ft.add_argument("--green-values", default="1",
                    help="values of the field meaning green space (default: 1)")
    ft.add_argument("--model", help="base model (default: the bundled model)")
    # Defaults (None) come from the engine's FinetuneConfig, so --help needs no torch.
    # Defaults (None) come from FinetuneConfig, shown in the help.
    fc = FinetuneConfig()
    ft.add_argument("--iterations", type=int, help=f"default {fc.iterations} (about 2 "
                    "min, light model, laptop CPU)")
    ft.add_argument("--holdout", type=float, help="share of polygons held out, default "
                    f"{fc.holdout}")
    ft.add_argument("--lr", type=float, help=f"learning rate, default {fc.lr:g}")
    ft.add_argument("--crop-size", type=int, help=f"default {fc.crop}")
    ft.add_argument("--source", help="labelled source tiles, UGSet layout (default: the "
                    "shipped sample)")
    ft.add_argument("--source-weight", type=float, help=f"default {fc.source_weight}; "
                    "0 = no source")
    ft.add_argument("--match-colours", action="store_true",
                    help="recolour source tiles to the image's colours")
    ft.add_argument("--lambda-adv", type=float, help=f"adversarial weight, default "
                    f"{fc.lambda_adv:g}")
    ft.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    add_device_argument(ft)
    ft.add_argument("--seed", type=int, default=fc.seed)
    ft.add_argument("--map", help="also map the polygons' extent with the fine-tuned "
                    "model here")
    ft.add_argument("--base-map", help="... and with the base model here")
    add_output_arguments(ft, "one JSON object: before, after (f1, precision, recall), "
                         "seconds")
    ft.set_defaults(func=run)



def run(args, feedback):
    from ..core.config import FinetuneConfig
    from ..core.mapping.imagery import parse_band_list
    from ..core.workflows import finetune
    given = {"iterations": args.iterations, "holdout": args.holdout, "lr": args.lr,
             "crop": args.crop_size, "source_weight": args.source_weight,
             "lambda_adv": args.lambda_adv}
    result = finetune.run(finetune.FinetuneRequest(
        image=args.image, reference=read_layer(args.reference), output=args.output,
        class_field=args.field, green_values=values(args.green_values), model=args.model,
        device=args.device, bands=parse_band_list(args.bands), source=args.source,
        finetuned_map=args.map, base_map=args.base_map,
        config=FinetuneConfig(seed=args.seed, match_colours=args.match_colours,
                              **{k: v for k, v in given.items() if v is not None})),
        feedback)

    def scores(s):
        return None if s is None else {k: s[k] for k in ("f1", "precision", "recall",
                                                         "pixels")}
    maps = {k: v for k, v in (("finetuned", args.map), ("base", args.base_map)) if v}
    summary = {"model": args.output, "before": scores(result.before),
               "after": scores(result.after), "train_polygons": result.train_polygons,
               "holdout_polygons": result.holdout_polygons,
               "seconds": round(result.seconds, 1),
               **{f"{k}_map": v for k, v in maps.items()}}
    if args.json:
        print(json.dumps(summary))
    elif result.before and result.after:
        def fmt(v):
            return "undefined" if v is None else f"{v:.3f}"
        print(f"{args.output}: held-out F1 {fmt(result.before['f1'])} -> "
              f"{fmt(result.after['f1'])} ({result.holdout_polygons} polygons), "
              f"{result.seconds:.0f} s")
    else:
        print(f"{args.output}: fine-tuned in {result.seconds:.0f} s (no polygons held "
              "out, gain not measured)")
    return 0
