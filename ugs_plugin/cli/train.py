"""``python -m ugs_plugin train``: train or fine-tune a model on labelled tiles."""
from __future__ import annotations

import json

from ..core.config import VARIANTS, TrainConfig
from ..core.workflows.train import TrainRequest
from .options import add_device_argument, add_output_arguments, values


def add_parser(sub):
    tr_defaults, tc = TrainRequest(""), TrainConfig()
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
    tr.add_argument("--variant", default=tr_defaults.variant, choices=VARIANTS)
    tr.add_argument("--base-model", help="fine-tune this model file instead")
    tr.add_argument("--val-groups", default="", help="groups held out for validation")
    # Defaults (None) come from TrainRequest / TrainConfig, shown in the help.
    tr.add_argument("--val-fraction", type=float, help="share of tiles (whole groups) "
                    f"for validation, default {tr_defaults.validation_fraction}; 0 = "
                    "train on all, unvalidated")
    tr.add_argument("--steps", type=int, help=f"default {tc.steps}")
    tr.add_argument("--batch-size", type=int, help=f"default {tc.batch_size}")
    tr.add_argument("--crop", type=int, help=f"training crop, default {tc.crop}")
    tr.add_argument("--lr", type=float, help=f"default {tc.lr:g}")
    tr.add_argument("--scale-range", help="resize factors for augmentation, default "
                    f"{tc.scale_range[0]},{tc.scale_range[1]} for tiles at ~1 m")
    tr.add_argument("--validate-every", type=int,
                    help="steps; default min(250, steps / 4)")
    tr.add_argument("--checkpoint-every", type=int,
                    help="steps; default min(250, steps / 4), -1 = only at the end")
    tr.add_argument("--checkpoint", help="checkpoint path (default OUTPUT.ckpt)")
    tr.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    add_device_argument(tr)
    tr.add_argument("--seed", type=int, help=f"default {tc.seed}")
    add_output_arguments(tr)
    tr.set_defaults(func=run)


def run(args, feedback):
    from ..core.config import TrainConfig
    from ..core.workflows import train
    given = {"steps": args.steps, "batch_size": args.batch_size, "crop": args.crop,
             "lr": args.lr, "validate_every": args.validate_every,
             "checkpoint_every": args.checkpoint_every, "seed": args.seed}
    if args.scale_range:
        low, high = (float(v) for v in args.scale_range.split(","))
        given["scale_range"] = (low, high)
    defaults = train.TrainRequest("")
    result = train.run(train.TrainRequest(
        output=args.output, tiles=args.tiles, pairs=args.pairs, variant=args.variant,
        base_model=args.base_model, validation_groups=values(args.val_groups, ()),
        validation_fraction=(defaults.validation_fraction if args.val_fraction is None
                             else args.val_fraction),
        device=args.device, checkpoint=args.checkpoint, resume=args.resume,
        config=TrainConfig(**{k: v for k, v in given.items() if v is not None})),
        feedback)
    print(json.dumps(result.validation) if args.json else
          f"{result.output}: validation {result.validation or 'not measured'}")
    return 0
