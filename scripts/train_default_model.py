"""Train the bundled light UGSNet on the NAIP crops in ../shared/data (development time).

Labels are pseudo-labels: NDVI = (NIR - R) / (NIR + R) > 0.1, cleaned by a 3x3
majority vote. They mark living vegetation, not ground truth. Cities are split
whole: validation cities are never seen in training.

    .venv/bin/python scripts/train_default_model.py --steps 1500 --out models/ugsnet_light.pt
"""
import argparse
import datetime
import glob
import json
import os
import sys

import numpy as np
import rasterio
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ugs_plugin.core.model_file import save_model  # noqa: E402
from ugs_plugin.core.train import TrainConfig, evaluate, train_model  # noqa: E402
from ugs_plugin.core.ugsnet import build_model  # noqa: E402

NDVI_THRESHOLD = 0.1
TRAIN_CITIES = ("bishop", "chico", "long_beach", "santa_monica")
VAL_CITIES = ("claremont", "palm_springs")


def ndvi_label(bands: np.ndarray) -> np.ndarray:
    red, nir = bands[0].astype(np.float32), bands[3].astype(np.float32)
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    raw = torch.from_numpy((ndvi > NDVI_THRESHOLD).astype(np.float32))[None, None]
    vote = F.avg_pool2d(raw, 3, stride=1, padding=1, count_include_pad=False)
    return (vote[0, 0].numpy() > 0.5).astype(np.uint8)


def load_city(data_dir, city):
    samples = []
    for path in sorted(glob.glob(os.path.join(data_dir, "images", f"{city}_2020_*.tif"))):
        with rasterio.open(path) as src:
            bands = src.read()
        samples.append((np.ascontiguousarray(bands[:3]), ndvi_label(bands)))
    return samples


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                   "shared", "data", "naip_urban_ca"))
    ap.add_argument("--out", default="models/ugsnet_light.pt")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = [s for c in TRAIN_CITIES for s in load_city(args.data, c)]
    val = [s for c in VAL_CITIES for s in load_city(args.data, c)]
    print(f"{len(train)} training tiles ({', '.join(TRAIN_CITIES)}), {len(val)} "
          f"validation tiles ({', '.join(VAL_CITIES)})", flush=True)
    model = build_model("light")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                      validate_every=max(50, args.steps // 6))
    result = train_model(model, train, val, cfg, log=lambda m: print(m, flush=True))
    final = evaluate(model, val)
    card = {
        "name": "UGSNet light, interim (briefly trained)",
        "variant": "light",
        "input_bands": ["red", "green", "blue"],
        "input_scaling": "minus_one_one",
        "tile_size": 512,
        "pixel_size_m": 1.0,
        "classes": {"0": "other", "1": "green space (vegetation)"},
        "status": ("interim: a short CPU training run to make the plugin usable; "
                   "replaced by the trained default model (issue 7)"),
        "training": {
            "data": "NAIP 2020 RGB crops, ../shared/data/naip_urban_ca",
            "train_cities": list(TRAIN_CITIES),
            "validation_cities": list(VAL_CITIES),
            "labels": (f"pseudo-labels: NDVI > {NDVI_THRESHOLD} from the NIR band, "
                       "3x3 majority vote; vegetation, not ground truth"),
            "steps": cfg.steps, "batch_size": cfg.batch_size, "crop": cfg.crop,
            "scale_range": list(cfg.scale_range), "optimizer": "AdamW",
            "lr": cfg.lr, "seconds": round(result["seconds"]),
            "date": datetime.date.today().isoformat(),
            "hardware": f"CPU, {torch.get_num_threads()} thread(s)",
        },
        "validation": {k: round(v, 4) for k, v in final.items()},
        "validation_note": ("pixel scores against NDVI pseudo-labels on the held-out "
                            "cities, tiles resampled to ~1 m"),
        "licence": "GPL-2.0-or-later (weights); training data CC BY 4.0",
        "attribution": [
            "Ventura et al. (2024), Int. J. Appl. Earth Obs. Geoinf. 130:103848, "
            "data CC BY 4.0",
            "Imagery: USDA NAIP (public domain)",
        ],
    }
    save_model(model, card, args.out)
    print(json.dumps(card["validation"]), flush=True)


if __name__ == "__main__":
    main()
