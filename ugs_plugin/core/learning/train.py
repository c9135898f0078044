"""Supervised training of UGSNet on labelled tiles (coarse CE + point-rend point loss).

Samples are in memory: (image uint8 (3,H,W), mask uint8 (H,W) with 0/1 and 255 =
ignore). They come from a folder in the UGSet layout (``images/`` and ``masks/`` with
matching names) or from (image, mask) GeoTIFF pairs. Validation is split by group
(city or area), never by random tiles of one scene. Augmentation rescales around the
~1 m the method targets and perturbs the radiometry so the model does not learn one
sensor's colours. Checkpoints hold everything needed to resume to the same state.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..accuracy.metrics import binary_metrics
from ..config import TrainConfig
from ..errors import Cancelled
from ..feedback import Feedback, SILENT
from ..mapping.imagery import to_model_input
from ..outputs import atomic_output
from .training_tiles import (find_tile_pairs, IGNORE, load_pairs, read_pairs_file,
                             split_by_group, TrainingError)


class TrainingCancelled(Cancelled):
    """Stopped on request; a checkpoint was written when a path was given."""


# ---------------------------------------------------------------- data loading


# ---------------------------------------------------------------- augmentation

def _resize(arr: torch.Tensor, size, mode):
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(arr[None], size=size, mode=mode, **kw)[0]


def augment(image, mask, cfg: TrainConfig, rng: np.random.Generator, kinds=None,
            teacher=None):
    """One random training crop: (3,crop,crop) float 0..1, (crop,crop) int64 labels,
    (crop,crop) uint8 hard-example kinds (tiles.HARD_KINDS; zeros when not given) and
    the teacher's (crop,crop) float green probability (None when not given). The
    teacher saw the unaltered tile, so only the geometry is applied to it.

    ``image`` and ``mask`` are uint8 arrays or tensors; tensors stay on their device
    (the GPU, when training there, so augmentation does not starve it)."""
    img = torch.as_tensor(image).float() / 255.0
    lab = torch.as_tensor(mask).float()[None]
    kind = (torch.zeros_like(lab) if kinds is None
            else torch.as_tensor(kinds).float()[None].to(lab.device))
    soft = (None if teacher is None
            else (torch.as_tensor(teacher).float() / 255.0)[None].to(lab.device))
    scale = rng.uniform(*cfg.scale_range)
    h, w = img.shape[1:]
    size = (max(cfg.crop, round(h * scale)), max(cfg.crop, round(w * scale)))
    img = _resize(img, size, "bilinear")
    lab = _resize(lab, size, "nearest")[0]
    kind = _resize(kind, size, "nearest")[0]
    soft = None if soft is None else _resize(soft, size, "bilinear")[0]
    y = rng.integers(0, size[0] - cfg.crop + 1)
    x = rng.integers(0, size[1] - cfg.crop + 1)
    k = int(rng.integers(4))
    flip = rng.random() < 0.5

    def placed(t):  # the same crop, quarter turns and flip for every map
        t = torch.rot90(t[..., y:y + cfg.crop, x:x + cfg.crop], k, (-2, -1))
        return t.flip(-1) if flip else t
    img, lab, kind = placed(img), placed(lab), placed(kind)
    soft = None if soft is None else placed(soft).contiguous()
    if cfg.hard_examples:
        img, kind = hard_example_looks(img, lab, kind, rng)
    if cfg.colour_jitter:
        img = radiometric_jitter(img, rng)
    return (img.contiguous(), lab.long().contiguous(), kind.to(torch.uint8).contiguous(),
            soft)


def _colour(values, like):
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(3, 1, 1)


def _random_blob(shape, rng, device):
    """A soft-edged random region (a few overlapping ellipses), 0..1."""
    h, w = shape
    yy = torch.linspace(0, 1, h, device=device).view(h, 1)
    xx = torch.linspace(0, 1, w, device=device).view(1, w)
    blob = torch.zeros(shape, device=device)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, 1, 2)
        ry, rx = rng.uniform(0.08, 0.45, 2)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / rx
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / ry
        blob = torch.maximum(blob, (1.5 - (u ** 2 + v ** 2)).clamp(0, 0.5) * 2)
    return blob


def hard_example_looks(img, lab, kind, rng: np.random.Generator):
    """Looks an RGB model gets wrong away from its training sensor, made from the
    crop's own pixels; labels unchanged, kinds updated where shadow is cast:

    - water (kind 1) darker, bluer, greener or with sun glint;
    - cast shadows, deep and blue-tinted, over roofs and asphalt (and over the
      vegetation they cross, which stays green space);
    - vegetation yellowed, grey-olive or desaturated (dry season, haze);
    - bare ground brightened towards sand (sparse trees over desert)."""
    green = (lab == 1)[None]
    other = (lab == 0)[None]
    water = (kind == 1)[None]
    if water.any() and rng.random() < 0.6:
        tone = [(0.04, 0.09, 0.16), (0.05, 0.16, 0.12), (0.10, 0.14, 0.08),
                (0.02, 0.05, 0.07)][int(rng.integers(4))]
        mix = rng.uniform(0.3, 0.9)
        recoloured = img * (1 - mix) + _colour(tone, img) * mix * rng.uniform(0.6, 1.8)
        if rng.random() < 0.3:  # sun glint: sparse bright specks
            glint = torch.rand(img.shape[1:], device=img.device) < rng.uniform(0.01, 0.06)
            recoloured = torch.where(glint[None], torch.full_like(img, 0.9), recoloured)
        img = torch.where(water, recoloured.clamp(0, 1), img)
    if rng.random() < 0.4:
        blob = _random_blob(img.shape[1:], rng, img.device)[None]
        depth = rng.uniform(0.2, 0.55)
        tint = _colour((rng.uniform(0.75, 0.95), rng.uniform(0.9, 1.0), 1.15), img)
        shaded = (img * depth * tint).clamp(0, 1)
        img = img * (1 - blob) + shaded * blob
        kind = torch.where((blob[0] > 0.5) & (lab == 0) & (kind == 0),
                           torch.full_like(kind, 2), kind)
    if green.any() and rng.random() < 0.3:
        # Milder than the sensor jitter that follows: fully grey vegetation would only
        # teach the model to give up on it.
        veg = img
        if rng.random() < 0.6:
            veg = rotate_hue(veg, -rng.uniform(10, 30))  # green towards yellow/olive
        grey = veg.mean(0, keepdim=True)
        veg = grey + (veg - grey) * rng.uniform(0.35, 0.85)
        veg = (veg * rng.uniform(0.9, 1.4) + rng.uniform(0.0, 0.1)).clamp(0, 1)
        img = torch.where(green, veg, img)
    if other.any() and rng.random() < 0.2:
        sand = _colour((0.86, 0.78, 0.64), img)
        mix = rng.uniform(0.2, 0.6)
        bright = img.mean(0, keepdim=True) > 0.3
        img = torch.where(other & bright, img * (1 - mix) + sand * mix, img)
    return img.clamp(0, 1), kind


def rotate_hue(img: torch.Tensor, degrees: float) -> torch.Tensor:
    """Hue rotation about the grey axis (keeps luminance roughly constant)."""
    theta = np.deg2rad(degrees)
    c, s = np.cos(theta), np.sin(theta)
    k = np.sqrt(1.0 / 3.0)
    # Rodrigues' rotation about (1,1,1)/sqrt(3).
    rot = (c * np.eye(3) + s * np.array([[0, -k, k], [k, 0, -k], [-k, k, 0]])
           + (1 - c) * np.full((3, 3), 1.0 / 3.0))
    out = torch.einsum("ij,jhw->ihw",
                       torch.tensor(rot, dtype=img.dtype, device=img.device), img)
    return out.clamp(0, 1)


def radiometric_jitter(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Saturation, hue, colour cast, brightness/contrast, tone curve and haze, as seen
    between sensors, seasons and processing chains."""
    grey = img.mean(0, keepdim=True)
    img = grey + (img - grey) * rng.uniform(0.3, 1.4)
    if rng.random() < 0.5:
        img = rotate_hue(img, rng.uniform(-25, 25))
    img = img * torch.tensor(rng.uniform(0.8, 1.2, 3), dtype=img.dtype,
                             device=img.device).view(3, 1, 1)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.6, 1.4) + mean * rng.uniform(0.7, 1.3)
    img = img.clamp(0, 1) ** rng.uniform(0.6, 1.5)
    if rng.random() < 0.3:
        haze = rng.uniform(0.05, 0.4)
        img = img * (1 - haze) + haze * torch.tensor(
            rng.uniform(0.7, 0.95, 3), dtype=img.dtype, device=img.device).view(3, 1, 1)
    return img.clamp(0, 1)


# ---------------------------------------------------------------- loss, scores

def segmentation_loss(output: dict, target: torch.Tensor, point_weight: float = 1.0,
                      pixel_weight: torch.Tensor | None = None):
    """CE of the coarse logits (upsampled to the label) + CE of the point predictions.

    Means over labelled pixels only; a batch without any labelled pixel gives a zero
    loss (sparse labels, e.g. digitized polygons), never NaN."""
    coarse = F.interpolate(output["coarse"].float(), size=target.shape[1:],
                           mode="bilinear", align_corners=True)
    keep = (target != IGNORE).float()
    if pixel_weight is not None:
        keep = keep * pixel_weight
    per_pixel = F.cross_entropy(coarse, target, ignore_index=IGNORE, reduction="none")
    loss = (per_pixel * keep).sum() / keep.sum().clamp(min=1e-6)
    point_labels = F.grid_sample(target[:, None].float(),
                                 2 * output["points"].unsqueeze(2) - 1,
                                 mode="nearest", align_corners=False)
    point_labels = point_labels.squeeze(3).squeeze(1).long()
    per_point = F.cross_entropy(output["rend"].float(), point_labels,
                                ignore_index=IGNORE, reduction="none")
    labelled = (point_labels != IGNORE).float()
    loss_points = (per_point * labelled).sum() / labelled.sum().clamp(min=1.0)
    return loss + point_weight * loss_points


def soft_cross_entropy(logits: torch.Tensor, green: torch.Tensor) -> torch.Tensor:
    """Per-element cross-entropy of two-class logits (N,2,...) against a probability
    of green (N,...) in 0..1."""
    target = torch.stack([1 - green, green], 1)
    return -(target * F.log_softmax(logits, 1)).sum(1)


def distillation_loss(output: dict, teacher: torch.Tensor):
    """Soft CE of the coarse logits (upsampled) and of the point predictions against a
    teacher's green probability (N,H,W) in 0..1, over every pixel: the student learns
    the teacher's confidence, labelled or not."""
    coarse = F.interpolate(output["coarse"].float(), size=teacher.shape[1:],
                           mode="bilinear", align_corners=True)
    at_points = F.grid_sample(teacher[:, None], 2 * output["points"].unsqueeze(2) - 1,
                              mode="bilinear", align_corners=False).squeeze(3).squeeze(1)
    return (soft_cross_entropy(coarse, teacher).mean()
            + soft_cross_entropy(output["rend"].float(), at_points).mean())


def hard_negative_weights(x_unit: torch.Tensor, target: torch.Tensor, weight: float,
                          kinds: torch.Tensor | None = None):
    """Non-green pixels of a hard kind (``kinds`` > 0, tiles.HARD_KINDS) count
    ``weight`` times; without kinds, dark non-green pixels (water, shadow) do."""
    hard = (kinds > 0) if kinds is not None else (x_unit.mean(1) < 0.2)
    return 1.0 + (weight - 1.0) * (hard & (target == 0)).float()


def binary_counts(pred: np.ndarray, truth: np.ndarray):
    """tp, fp, fn, tn over pixels whose truth is not ignored."""
    keep = truth != IGNORE
    p, t = pred[keep].astype(bool), truth[keep].astype(bool)
    return (int(np.sum(p & t)), int(np.sum(p & ~t)), int(np.sum(~p & t)),
            int(np.sum(~p & ~t)))


def scores(tp, fp, fn, tn):
    """Green-space scores from counts (one formula: accuracy.binary_metrics), with
    NaN where undefined so training logs and benchmarks can format them."""
    m = binary_metrics([[int(tn), int(fp)], [int(fn), int(tp)]])

    def number(value):
        return float("nan") if value is None else float(value)
    green = m["green"]
    return {"f1": number(green["f1"]), "precision": number(green["precision"]),
            "recall": number(green["recall"]), "iou": number(green["iou"]),
            "oa": number(m["overall_accuracy"]) if m["n"] else 0.0}


@torch.inference_mode()
def predict_tiles(model, images, scale: float = 1.0, batch_size: int = 8):
    """Class maps (N,H,W) of uint8 tiles, each resampled by ``scale`` for the model
    and the prediction brought back to the tile's own grid."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds = []
    for start in range(0, len(images), batch_size):
        chunk = torch.stack([torch.from_numpy(i).float() / 255
                             for i in images[start:start + batch_size]]).to(device)
        size = chunk.shape[2:]
        x = chunk
        if scale != 1.0:
            x = F.interpolate(chunk, size=[round(d * scale) for d in size],
                              mode="bilinear", align_corners=False)
        logits = model(to_model_input(x))
        if scale != 1.0:
            logits = F.interpolate(logits, size=size, mode="bilinear",
                                   align_corners=False)
        preds.append(logits.argmax(1).cpu().numpy().astype(np.uint8))
    model.train(was_training)
    return np.concatenate(preds) if preds else np.zeros((0,), np.uint8)


def evaluate(model, samples, scale: float = 1.0, batch_size: int = 8):
    """Pixel scores of green space over whole validation tiles."""
    preds = predict_tiles(model, [s.image for s in samples], scale, batch_size)
    totals = np.zeros(4, dtype=np.int64)
    for pred, s in zip(preds, samples):
        totals += binary_counts(pred, s.mask)
    return scores(*totals)


# ---------------------------------------------------------------- the loop

def poly_lr(base, step, total, power):
    return base * (1 - step / total) ** power


def save_checkpoint(path, model, optimizer, step, rng, history, best, best_state, cfg):
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "step": step, "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(), "history": history, "best": best,
        "best_state": best_state, "config": asdict(cfg),
    }
    with atomic_output(path, ".ckpt") as tmp:
        torch.save(state, tmp)


def load_checkpoint(path):
    """A training checkpoint (our own format; tensors, numbers and strings only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise TrainingError(f"cannot resume from {path}: {str(err).splitlines()[0]}") \
            from None


def auto_interval(steps: int) -> int:
    """Validation / checkpoint interval when none is set: four times a run, at most
    every 250 steps."""
    return max(1, min(250, steps // 4))


def train_model(model, train_samples, val_samples=(), cfg: TrainConfig = TrainConfig(),
                *, checkpoint_path=None, resume_from=None, feedback: Feedback = SILENT):
    """Train ``model`` in place; return history and best validation scores.

    The state with the best validation F1 is restored at the end. With
    ``checkpoint_path``, a checkpoint is written every ``cfg.checkpoint_every`` steps,
    at the end, and on cancel; ``resume_from`` continues such a run exactly.
    """
    if not train_samples:
        raise TrainingError("no training tiles")
    if cfg.crop % 16:
        raise TrainingError(f"crop {cfg.crop} must be a multiple of 16")
    validate_every = cfg.validate_every or auto_interval(cfg.steps)
    checkpoint_every = (cfg.checkpoint_every or auto_interval(cfg.steps)) \
        if cfg.checkpoint_every >= 0 else 0
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history, best, best_state, start = [], None, None, 0
    if resume_from:
        ckpt = load_checkpoint(resume_from)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        history, best, best_state = ckpt["history"], ckpt["best"], ckpt["best_state"]
        start = ckpt["step"]
        feedback.info(f"resumed at step {start}")
    device = next(model.parameters()).device
    distil = cfg.distill_weight > 0
    if distil and any(s.teacher is None for s in train_samples):
        raise TrainingError("distillation needs every training tile's teacher "
                            "probabilities (Sample.teacher)")
    stored = [(s.image, s.mask, s.kinds, s.teacher if distil else None)
              for s in train_samples]
    if device.type == "cuda":  # the tiles are small: keep them on the GPU
        stored = [tuple(None if a is None else torch.from_numpy(a).to(device) for a in s)
                  for s in stored]
    with_kinds = any(s.kinds is not None for s in train_samples)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if cfg.precision == "bf16" and device.type == "cuda"
                else contextlib.nullcontext())
    model.train()
    t0 = time.time()
    step = start
    for step in range(start, cfg.steps):
        if feedback.is_cancelled():
            if checkpoint_path:
                save_checkpoint(checkpoint_path, model, opt, step, rng, history, best,
                                best_state, cfg)
            raise TrainingCancelled(f"cancelled at step {step}")
        for group in opt.param_groups:
            group["lr"] = poly_lr(cfg.lr, step, cfg.steps, cfg.poly_power)
        picks = rng.integers(0, len(train_samples), cfg.batch_size)
        batch = [augment(*stored[i][:2], cfg, rng, *stored[i][2:]) for i in picks]
        x_unit = torch.stack([b[0] for b in batch]).to(device)
        y = torch.stack([b[1] for b in batch]).to(device)
        weights = None
        if cfg.hard_negative_weight != 1.0:
            kinds = torch.stack([b[2] for b in batch]).to(device) if with_kinds else None
            weights = hard_negative_weights(x_unit, y, cfg.hard_negative_weight, kinds)
        with autocast:
            output = model(to_model_input(x_unit))
        loss = segmentation_loss(output, y, cfg.point_loss_weight, weights)
        if distil:
            soft = torch.stack([b[3] for b in batch]).to(device)
            loss = (1 - cfg.distill_weight) * loss + \
                cfg.distill_weight * distillation_loss(output, soft)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.item())
        done = step + 1
        feedback.progress(100.0 * done / cfg.steps,
                          f"step {done}/{cfg.steps}, loss {history[-1]:.4f}"
                          if done % 10 == 0 or done == cfg.steps else "")
        last = step + 1 == cfg.steps
        if val_samples and ((step + 1) % validate_every == 0 or last):
            val = evaluate(model, val_samples, cfg.val_scale)
            feedback.info(f"step {step + 1}: loss "
                          f"{np.mean(history[-validate_every:]):.4f} val F1 "
                          f"{val['f1']:.4f} IoU {val['iou']:.4f} "
                          f"({time.time() - t0:.0f} s)")
            if best is None or val["f1"] > best["f1"]:
                best = dict(val, step=step + 1)
                best_state = copy.deepcopy(model.state_dict())
        if checkpoint_path and checkpoint_every and \
                (step + 1) % checkpoint_every == 0 and not last:
            save_checkpoint(checkpoint_path, model, opt, step + 1, rng, history, best,
                            best_state, cfg)
    if checkpoint_path:
        save_checkpoint(checkpoint_path, model, opt, cfg.steps, rng, history, best,
                        best_state, cfg)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"loss_history": history, "best": best, "seconds": time.time() - t0}


# ---------------------------------------------------------------- one call for CLI/QGIS


def train_from_tiles(output, *, tiles_folder=None, pairs_file=None, variant="light",
                     base_model=None, val_groups=(), val_fraction=0.2,
                     cfg: TrainConfig = TrainConfig(), device="auto", checkpoint=None,
                     resume=False, feedback: Feedback = SILENT):
    """Load tiles (a UGSet folder, else a pairs file), split by group, train (from
    scratch or from ``base_model``), and write ``output`` (.pt) with its card.
    Returns the card."""
    import datetime

    from ..model.files import choose_device, load_model, save_model
    from ..model.ugsnet import build_model
    if tiles_folder:
        pairs, unmatched = find_tile_pairs(tiles_folder)
        if unmatched:
            feedback.info(f"{len(unmatched)} image(s) without a mask skipped, e.g. "
                          f"{unmatched[0]}")
    else:
        pairs = read_pairs_file(pairs_file)
    samples = load_pairs(pairs)
    train, val = split_by_group(samples, val_groups, val_fraction)
    feedback.info(f"{len(train)} training tiles from {len({s.group for s in train})} "
                  f"group(s), {len(val)} validation tiles from groups "
                  f"{sorted({s.group for s in val})}")
    if base_model:
        model, parent_card = load_model(base_model, device)
        variant = parent_card["variant"]
    else:
        model, parent_card = build_model(variant).to(choose_device(device)), None
    result = train_model(model, train, val, cfg, checkpoint_path=checkpoint,
                         resume_from=checkpoint if resume else None, feedback=feedback)
    best = result["best"] or {}
    card = {
        "name": Path(output).stem,
        "variant": variant,
        "input_bands": ["red", "green", "blue"],
        "input_scaling": "minus_one_one",
        "tile_size": (parent_card or {}).get("tile_size", 512),
        "pixel_size_m": 1.0,
        "classes": {"0": "other", "1": "green space"},
        "parent_model": str(base_model) if base_model else None,
        "training": {
            "data": str(tiles_folder or pairs_file),
            "train_groups": sorted({s.group for s in train}),
            "validation_groups": sorted({s.group for s in val}),
            "train_tiles": len(train), "validation_tiles": len(val),
            "config": asdict(cfg), "seconds": round(result["seconds"]),
            "best_step": best.get("step"),
            "date": datetime.date.today().isoformat(),
        },
        "validation": {k: round(v, 4) for k, v in best.items() if k != "step"},
    }
    save_model(model, card, output, warn=feedback.warning)
    if checkpoint:  # it served interrupted runs; the finished model replaces it
        Path(checkpoint).unlink(missing_ok=True)
    return card
