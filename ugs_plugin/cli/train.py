"""``python -m ugs_plugin train``: train or fine-tune a model on labelled tiles."""
from __future__ import annotations

import json

from ..core.workflows.train import OPTIONS
from .options import add_options, add_output_arguments, build_request


def add_parser(sub):
    tr = sub.add_parser("train", help="train or fine-tune a model on labelled tiles",
                        description="Train UGSNet on labelled tiles: a folder in the "
                        "UGSet layout (images/ + masks/ with matching names; masks 0/1 "
                        "or 0/255, other values ignored) or a file of image,mask pairs. "
                        "Validation takes whole groups (the tile name without its "
                        "trailing number, e.g. city_2020 for city_2020_17).")
    tr.add_argument("output", help="model file to write (.pt, card beside it)")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("--tiles", help="folder with images/ and masks/")
    src.add_argument("--pairs", help="text file, one 'image,mask' per line")
    add_options(tr, OPTIONS)
    add_output_arguments(tr)
    tr.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import train
    result = train.run(build_request(args, OPTIONS, output=args.output, tiles=args.tiles,
                                     pairs=args.pairs), feedback)
    print(json.dumps(result.validation) if args.json else
          f"{result.output}: validation {result.validation or 'not measured'}")
    return 0
