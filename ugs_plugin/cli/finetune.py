"""``python -m ugs_plugin finetune``: fine-tune a model on reference polygons and
report held-out F1 before/after."""
from __future__ import annotations

import json

from ..core.workflows.finetune import OPTIONS
from .options import add_options, add_output_arguments, build_request
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
    add_options(ft, OPTIONS)
    ft.add_argument("--map", help="also map the polygons' extent with the fine-tuned "
                    "model here")
    ft.add_argument("--base-map", help="... and with the base model here")
    ft.add_argument("--candidate", help="also write the best candidate here (.pt: the mix "
                    "with the highest held-out F1), whether the check accepts it or "
                    "keeps the base")
    add_output_arguments(ft, "one JSON object: before, after (f1, precision, recall), "
                         "seconds")
    ft.set_defaults(func=run)



def run(args, feedback):
    from ..core.workflows import finetune
    result = finetune.run(build_request(
        args, OPTIONS, image=args.image, reference=read_layer(args.reference),
        output=args.output, finetuned_map=args.map, base_map=args.base_map,
        candidate=args.candidate), feedback)

    def scores(s):
        return None if s is None else {k: s[k] for k in ("f1", "precision", "recall",
                                                         "pixels")}
    maps = {k: v for k, v in (("finetuned", args.map), ("base", args.base_map)) if v}
    summary = {"model": args.output, "before": scores(result.before),
               "after": scores(result.after), "train_polygons": result.train_polygons,
               "holdout_polygons": result.holdout_polygons,
               "holdout_from": result.card["finetuning"].get("holdout_from"),
               "accepted": result.accepted, "round": result.round,
               "reason": result.decision.reason if result.decision else None,
               "alpha": result.decision.chosen.alpha
               if result.decision and result.decision.chosen else None,
               "seconds": round(result.seconds, 1),
               **{f"{k}_map": v for k, v in maps.items()}}
    if args.json:
        print(json.dumps(summary))
    elif result.before and result.after:
        def fmt(v):
            return "undefined" if v is None else f"{v:.3f}"
        verdict = ("fine-tuned model written" if result.accepted
                   else "kept the base model")
        print(f"{args.output}: round {result.round}, {verdict}; held-out F1 "
              f"{fmt(result.before['f1'])} -> {fmt(result.after['f1'])} "
              f"({result.holdout_polygons} polygons), {result.seconds:.0f} s")
    else:
        verdict = ("fine-tuned model written, unchecked" if result.accepted
                   else "kept the base model")
        print(f"{args.output}: round {result.round}, {verdict}: no polygons held out, "
              f"the gain was not measured; {result.seconds:.0f} s")
    return 0
