"""Train the bundled light UGSNet on the NAIP crops in ../shared/data (run once, at
development time; CI never runs it).

RGB input; labels are NDVI pseudo-labels from the near-infrared band (see
benchmarks/naip_eval.py); whole cities are held out for validation. Pixels in the
ambiguous NDVI band around the threshold are ignored in the loss. Strong radiometric
augmentation and scale jitter over 0.6–1.2 m keep the model from learning one
sensor's colours; dark non-vegetation (water, shadow) is weighted up as hard
negatives.

    .venv/bin/python scripts/train_default_model.py --steps 8000 --out models/ugsnet_light.pt
"""
import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import rasterio
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
import naip_eval  # noqa: E402
from ugs_plugin.core.model_file import save_model  # noqa: E402
from ugs_plugin.core.train import (IGNORE, TrainConfig, predict_tiles,  # noqa: E402
                                   train_model)
from ugs_plugin.core.ugsnet import build_model  # noqa: E402

AMBIGUOUS_NDVI = (0.05, 0.15)


def with_ignore_band(samples):
    """Training copies whose labels ignore the ambiguous NDVI band."""
    out = []
    for s in samples:
        with rasterio.open(naip_eval.NAIP / "images" / f"{s.name}.tif") as src:
            v = naip_eval.ndvi(src.read())
        mask = s.mask.copy()
        mask[(v > AMBIGUOUS_NDVI[0]) & (v < AMBIGUOUS_NDVI[1])] = IGNORE
        out.append(type(s)(s.image, mask, s.name, s.group))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "models" / "ugsnet_light.pt"))
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default="build/train_default.ckpt")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = [s for c in naip_eval.TRAIN_CITIES for s in naip_eval.load_city(c)]
    val = [s for c in naip_eval.VAL_CITIES for s in naip_eval.load_city(c)]
    print(f"{len(train)} training tiles ({', '.join(naip_eval.TRAIN_CITIES)}), "
          f"{len(val)} validation tiles ({', '.join(naip_eval.VAL_CITIES)})", flush=True)
    torch.manual_seed(args.seed)
    model = build_model("light")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, crop=args.crop,
                      lr=args.lr, seed=args.seed, scale_range=(0.5, 1.0),
                      hard_negative_weight=2.0, validate_every=max(100, args.steps // 10),
                      val_scale=0.6, checkpoint_every=500)
    Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    result = train_model(model, with_ignore_band(train), val, cfg,
                         log=lambda m: print(m, flush=True),
                         checkpoint_path=args.checkpoint,
                         resume_from=args.checkpoint if args.resume else None)
    figures = {}
    for label, scale in (("at_1m", 0.6), ("at_0.6m", 1.0)):
        preds = predict_tiles(model, [s.image for s in val], scale)
        figures[label] = {k: round(v, 4) for k, v in naip_eval.score(preds, val).items()}
    print(json.dumps(figures), flush=True)
    card = {
        "name": "UGSNet light, NAIP-trained default",
        "variant": "light",
        "input_bands": ["red", "green", "blue"],
        "input_scaling": "minus_one_one",
        "tile_size": 512,
        "pixel_size_m": 1.0,
        "classes": {"0": "other", "1": "green space (vegetation)"},
        "training": {
            "data": "NAIP 2020 RGB crops (256 px, 0.6 m), ../shared/data/naip_urban_ca",
            "train_cities": list(naip_eval.TRAIN_CITIES),
            "validation_cities": list(naip_eval.VAL_CITIES),
            "split": "by city: validation cities never seen in training",
            "labels": naip_eval.LABEL_RULE + f"; NDVI in {AMBIGUOUS_NDVI} ignored in "
                      "the loss",
            "augmentation": "scale 0.5-1.0 (0.6-1.2 m), flips, 90 degree rotations, "
                            "saturation 0.3-1.4, hue +-25 deg, colour cast, "
                            "brightness/contrast, gamma 0.6-1.5, haze",
            "hard_negatives": "dark non-vegetation pixels (water, shadow) weighted x2",
            "steps": cfg.steps, "batch_size": cfg.batch_size, "crop": cfg.crop,
            "optimizer": "AdamW", "lr": cfg.lr, "schedule": "poly 0.9",
            "best_step": (result["best"] or {}).get("step"),
            "seconds": round(result["seconds"]),
            "date": datetime.date.today().isoformat(),
            "hardware": f"{platform.processor() or platform.machine()} CPU, "
                        f"{torch.get_num_threads()} thread(s)",
        },
        "validation": figures["at_1m"],
        "validation_at_native_0.6m": figures["at_0.6m"],
        "validation_note": ("held-out cities (Claremont, Palm Springs): pixel scores "
                            "against NDVI pseudo-labels; tree_recall = share of human "
                            "tree points on pixels mapped green"),
        "licence": "GPL-2.0-or-later (weights); training data CC BY 4.0",
        "attribution": [
            "Ventura et al. (2024), Individual Tree Detection in Large-Scale Urban "
            "Environments using High-Resolution Multispectral Imagery, Int. J. Appl. "
            "Earth Obs. Geoinf. 130:103848, data CC BY 4.0",
            "Imagery: USDA NAIP (public domain)",
        ],
    }
    save_model(model, card, args.out)
    print(f"saved {args.out}", flush=True)


if __name__ == "__main__":
    main()
