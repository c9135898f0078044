"""Train a default UGSNet (light or full) on the NAIP crops in ../shared/data (run
once, at development time; CI never runs it).

RGB input; labels are NDVI pseudo-labels from the near-infrared band (see
scripts/naip_eval.py); whole cities are held out for validation. Pixels in the
ambiguous NDVI band around the threshold are ignored in the loss. Strong radiometric
augmentation and scale jitter over 0.6–1.2 m keep the model from learning one
sensor's colours; dark non-vegetation (water, shadow) is weighted up as hard
negatives.

    .venv/bin/python scripts/train_default_model.py --steps 8000 --out models/ugsnet_light.pt

With ``--teacher`` a model learns half from another's probabilities on the training
tiles (distillation; the lean variant of benchmarks/RESULTS.md, two stages):

    .venv/bin/python scripts/train_default_model.py --variant lean --teacher \
        models/ugsnet_full.pt --hard-examples --hard-weight 1.5 --scale-range 0.5,1.2 \
        --lr 2e-3 --time-budget 2700 --out build/lean/stage1.pt
    .venv/bin/python scripts/train_default_model.py --variant lean --teacher \
        models/ugsnet_full.pt --init build/lean/stage1.pt --hard-examples \
        --hard-weight 1.0 --scale-range 0.5,1.2 --lr 3e-4 --steps 3000 --out build/lean/stage2.pt

The full model is trained on a GPU. ../shared does not travel to a GPU machine, so
the labelled tiles go there as one file (``--save-pack``, then ``--pack``); with
``--time-budget`` a short probe measures steps per second and sets ``--steps`` so
the run (poly schedule included) ends within the budget:

    python scripts/train_default_model.py --save-pack build/gpu/naip_pack.npz.xz
    python scripts/train_default_model.py --variant full --pack build/gpu/naip_pack.npz.xz \
        --device cuda --precision bf16 --crop 256 --batch-size 16 --time-budget 360 \
        --out $OUT/ugsnet_full.pt --weights-fp16-parts $OUT
"""
import argparse
import datetime
import io
import json
import lzma
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
import naip_eval  # noqa: E402
from ugs_plugin.core.model.files import choose_device, save_model  # noqa: E402
from ugs_plugin.core.learning.training_tiles import IGNORE, Sample  # noqa: E402
from ugs_plugin.core.config import TrainConfig, VARIANTS  # noqa: E402
from ugs_plugin.core.feedback import Feedback, Printing  # noqa: E402
from ugs_plugin.core.learning.train import predict_tiles, train_model  # noqa: E402
from ugs_plugin.core.model.ugsnet import build_model  # noqa: E402

AMBIGUOUS_HALF_WIDTH = 0.05  # NDVI either side of the label threshold


def ambiguous_band(threshold):
    return (round(threshold - AMBIGUOUS_HALF_WIDTH, 3),
            round(threshold + AMBIGUOUS_HALF_WIDTH, 3))


def with_ignore_band(samples, threshold=naip_eval.NDVI_THRESHOLD, kinds=True):
    """Training copies whose labels ignore the ambiguous NDVI band around the
    threshold; hard-example kinds kept (or dropped)."""
    low, high = ambiguous_band(threshold)
    out = []
    for s in samples:
        mask = s.mask.copy()
        mask[(s.ndvi > low) & (s.ndvi < high)] = IGNORE
        out.append(type(s)(s.image, mask, s.name, s.group, s.kinds if kinds else None))
    return out


def save_pack(path, train, val, val_per_city=0):
    """Training tiles (ignore band applied) and validation tiles (every one, or
    ``val_per_city`` evenly spread per city) in one xz-compressed .npz."""
    if val_per_city:
        picked = []
        for city in sorted({s.group for s in val}):
            tiles = [s for s in val if s.group == city]
            step = max(1, len(tiles) // val_per_city)
            picked += tiles[::step][:val_per_city]
        val = picked

    def arrays(samples):
        return (np.stack([s.image for s in samples]), np.stack([s.mask for s in samples]),
                np.array([s.name for s in samples]), np.array([s.group for s in samples]))
    ti, tm, tn, tg = arrays(train)
    vi, vm, vn, vg = arrays(val)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, train_images=ti, train_masks=tm, train_names=tn, train_groups=tg,
             val_images=vi, val_masks=vm, val_names=vn, val_groups=vg)
    with lzma.open(path, "wb", preset=6) as f:  # a third smaller than zip's deflate
        f.write(buffer.getvalue())
    return len(train), len(val)


def load_pack(path):
    with lzma.open(path, "rb") as f:
        data = np.load(io.BytesIO(f.read()))

    def samples(prefix):
        return [Sample(i, m, str(n), str(g)) for i, m, n, g in zip(
            data[f"{prefix}_images"], data[f"{prefix}_masks"], data[f"{prefix}_names"],
            data[f"{prefix}_groups"])]
    return samples("train"), samples("val")


@torch.inference_mode()
def with_teacher(samples, teacher_path, batch_size=4):
    """Copies of ``samples`` holding the teacher model's green probability (x 255) on
    each whole tile, predicted once at the tile's own resolution. (Not
    finetune.base_probabilities: it keeps float16, which moves 1 % of the uint8
    values by one.)"""
    from ugs_plugin.core.mapping.imagery import to_model_input
    from ugs_plugin.core.model.files import load_model
    teacher, card = load_model(teacher_path, "cpu")
    teacher.eval()
    # Kept between runs (minutes of a full model on the CPU), keyed by its weights.
    cache = REPO / "build" / f"teacher_{card.get('sha256', 'unknown')[:12]}.npz"
    known = dict(np.load(cache)) if cache.exists() else {}
    t0 = time.time()
    todo = [s for s in samples if s.name not in known]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        x = torch.stack([torch.from_numpy(s.image).float() / 255 for s in chunk])
        green = torch.softmax(teacher(to_model_input(x)), 1)[:, 1]
        for s, p in zip(chunk, green):
            known[s.name] = (p * 255).round().to(torch.uint8).numpy()
    if todo:
        cache.parent.mkdir(exist_ok=True)
        np.savez(cache, **known)
    print(f"teacher {card['variant']} ({Path(teacher_path).name}): {len(todo)} of "
          f"{len(samples)} tiles predicted in {time.time() - t0:.0f} s", flush=True)
    return [type(s)(s.image, s.mask, s.name, s.group, s.kinds, known[s.name])
            for s in samples]


def steps_for_budget(variant, train, cfg, device, seconds, probe_steps=12):
    """Steps that fit in ``seconds``, from the speed of a throw-away model."""
    probe = build_model(variant).to(device)
    probe_cfg = TrainConfig(**{**cfg.__dict__, "steps": probe_steps + 3,
                               "validate_every": 10 ** 9, "checkpoint_every": -1})
    times = []

    class Clock(Feedback):
        def progress(self, percent, text=""):
            times.append(time.perf_counter())

    train_model(probe, train, (), probe_cfg, feedback=Clock())
    per_step = (times[-1] - times[2]) / (len(times) - 3)
    del probe
    if device.type == "cuda":
        torch.cuda.empty_cache()
    # Validation passes and the final save take time too: keep 12 % in hand.
    steps = max(50, int(0.88 * seconds / per_step))
    print(f"probe: {per_step * 1000:.0f} ms/step -> {steps} steps in {seconds:.0f} s",
          flush=True)
    return steps


def save_fp16_parts(model, folder, parts=5):
    """The weights in half precision, in ``parts`` files of similar size (a transfer
    limit on file size); scripts/join_weights.py puts them back together."""
    state = {k: (v.half() if v.is_floating_point() else v).cpu()
             for k, v in model.state_dict().items()}
    total = sum(v.numel() * v.element_size() for v in state.values())
    groups, current, size = [], {}, 0
    for key, value in state.items():
        current[key] = value
        size += value.numel() * value.element_size()
        if size >= total * (len(groups) + 1) / parts and len(groups) < parts - 1:
            groups.append(current)
            current = {}
    groups.append(current)
    for i, group in enumerate(groups):
        target = Path(folder) / f"weights_part{i}.pt"
        tmp = target.with_suffix(".tmp")
        torch.save(group, tmp)
        tmp.replace(target)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="light", choices=VARIANTS)
    ap.add_argument("--out", default=None,
                    help="model file (default: models/ugsnet_<variant>.pt)")
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--time-budget", type=float, default=0,
                    help="seconds; sets --steps from a speed probe")
    ap.add_argument("--validations", type=int, default=10)
    ap.add_argument("--pack", help="tiles from a --save-pack file instead of ../shared")
    ap.add_argument("--save-pack", help="write the tiles to this .npz.xz and stop")
    ap.add_argument("--pack-val-per-city", type=int, default=24,
                    help="validation tiles per city in the pack (0 = all)")
    ap.add_argument("--weights-fp16-parts", metavar="DIR",
                    help="also write the best weights in fp16 parts at each validation")
    ap.add_argument("--checkpoint", default="build/train_default.ckpt",
                    help="resumable checkpoint every 500 steps ('' = none)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--ndvi-threshold", type=float, default=naip_eval.NDVI_THRESHOLD,
                    help="label rule: NDVI above this is vegetation")
    ap.add_argument("--hard-examples", action="store_true",
                    help="weight and augment water, shadow, dry vegetation, sand")
    ap.add_argument("--hard-weight", type=float, default=2.0)
    ap.add_argument("--scale-range", default="0.5,1.0",
                    help="resize factors of the 0.6 m crops (0.5,1.2 = 1.2-0.5 m)")
    ap.add_argument("--init", help="start from this model file's weights")
    ap.add_argument("--teacher", help="distil from this model file (e.g. "
                    "models/ugsnet_full.pt): its probabilities on the training tiles")
    ap.add_argument("--distill-weight", type=float, default=0.5,
                    help="share of the loss given to the teacher (with --teacher)")
    args = ap.parse_args()
    out = args.out or str(REPO / "models" / f"ugsnet_{args.variant}.pt")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.pack:
        train, val = load_pack(args.pack)
    else:
        train = with_ignore_band([s for c in naip_eval.TRAIN_CITIES
                                  for s in naip_eval.load_city(
                                      c, threshold=args.ndvi_threshold)],
                                 args.ndvi_threshold, kinds=args.hard_examples)
        val = [s for c in naip_eval.VAL_CITIES
               for s in naip_eval.load_city(c, threshold=args.ndvi_threshold)]
    if args.save_pack:
        counts = save_pack(args.save_pack, train, val, args.pack_val_per_city)
        print(f"wrote {args.save_pack}: {counts[0]} training, {counts[1]} validation "
              "tiles")
        return
    if args.teacher:
        train = with_teacher(train, args.teacher)
    print(f"{len(train)} training tiles ({', '.join(naip_eval.TRAIN_CITIES)}), "
          f"{len(val)} validation tiles ({', '.join(naip_eval.VAL_CITIES)})", flush=True)
    device = choose_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: pick kernels once
    scale_range = tuple(float(v) for v in args.scale_range.split(","))
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, crop=args.crop,
                      lr=args.lr, seed=args.seed, scale_range=scale_range,
                      hard_negative_weight=args.hard_weight,
                      hard_examples=args.hard_examples, val_scale=0.6,
                      checkpoint_every=500, precision=args.precision,
                      distill_weight=args.distill_weight if args.teacher else 0.0)
    if args.time_budget:
        cfg.steps = steps_for_budget(args.variant, train, cfg, device, args.time_budget)
    cfg.validate_every = max(50, cfg.steps // args.validations)
    torch.manual_seed(args.seed)
    model = build_model(args.variant).to(device)
    if args.init:
        from ugs_plugin.core.model.files import load_model
        parent, parent_card = load_model(args.init, "cpu")
        if parent_card["variant"] != args.variant:
            sys.exit(f"--init {args.init} is a {parent_card['variant']} model")
        model.load_state_dict(parent.state_dict())
        del parent
    if args.checkpoint:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)

    class Log(Printing):
        def info(self, message):
            super().info(message)
            if args.weights_fp16_parts and "val F1" in message:
                save_fp16_parts(model, args.weights_fp16_parts)
    result = train_model(model, train, val, cfg,
                         checkpoint_path=args.checkpoint or None,
                         resume_from=args.checkpoint if args.resume else None,
                         feedback=Log())
    if args.weights_fp16_parts:  # the best state, restored by train_model
        save_fp16_parts(model, args.weights_fp16_parts)
    figures = {}
    if not args.pack:  # tree points live in ../shared
        for label, scale in (("at_1m", 0.6), ("at_0.6m", 1.0)):
            preds = predict_tiles(model, [s.image for s in val], scale)
            figures[label] = {k: round(v, 4)
                              for k, v in naip_eval.score(preds, val).items()}
        print(json.dumps(figures), flush=True)
    card = {
        "name": f"UGSNet {args.variant}, NAIP-trained default",
        "variant": args.variant,
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
            "labels": naip_eval.label_rule(args.ndvi_threshold)
                      + f"; NDVI in {ambiguous_band(args.ndvi_threshold)} ignored in "
                      "the loss",
            "augmentation": (f"scale {scale_range[0]}-{scale_range[1]} "
                             f"({0.6 / scale_range[1]:.2g}-{0.6 / scale_range[0]:.2g} m), "
                             "flips, 90 degree rotations, saturation 0.3-1.4, hue +-25 "
                             "deg, colour cast, brightness/contrast, gamma 0.6-1.5, haze"
                             + ("; hard examples: water darker/bluer/greener/glinting, "
                                "blue-tinted cast shadows, vegetation yellowed, "
                                "grey-olive or desaturated, bare ground towards sand"
                                if args.hard_examples else "")),
            "hard_negatives": (f"non-vegetation found with the NIR band (water or deep "
                               f"shadow, shadow or dark surface, green-looking "
                               f"non-vegetation) weighted x{args.hard_weight:g}"
                               if args.hard_examples else
                               f"dark non-vegetation pixels (water, shadow) weighted "
                               f"x{args.hard_weight:g}"),
            "initialised_from": Path(args.init).name if args.init else None,
            "distilled_from": (f"{Path(args.teacher).name}: its green probability on "
                               f"every training tile, {args.distill_weight:g} of the "
                               "loss (soft cross-entropy, coarse and point outputs)"
                               if args.teacher else None),
            "steps": cfg.steps, "batch_size": cfg.batch_size, "crop": cfg.crop,
            "optimizer": "AdamW", "lr": cfg.lr, "schedule": "poly 0.9",
            "precision": cfg.precision,
            "best_step": (result["best"] or {}).get("step"),
            "seconds": round(result["seconds"]),
            "date": datetime.date.today().isoformat(),
            "hardware": (torch.cuda.get_device_name(device) if device.type == "cuda"
                         else f"{platform.processor() or platform.machine()} CPU, "
                              f"{torch.get_num_threads()} thread(s)"),
        },
        # Without ../shared (a --pack run) these are filled in by bench_quality.py.
        "validation": figures.get("at_1m"),
        "validation_at_native_0.6m": figures.get("at_0.6m"),
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
    save_model(model, card, out)
    print(f"saved {out}", flush=True)


if __name__ == "__main__":
    main()
