"""Supervised training of UGSNet on labelled tiles (coarse CE + point-rend point loss).

Samples are in-memory (image uint8 (3,H,W), mask uint8 (H,W) with 0/1 and 255 =
ignore). Augmentation rescales around the ~1 m the method targets and perturbs the
radiometry so the model does not learn one sensor's colours.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .imagery import to_model_input
from .ugsnet import point_sample

IGNORE = 255


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 8
    crop: int = 128                 # training tile edge, multiple of 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    point_loss_weight: float = 1.0
    scale_range: tuple = (0.5, 0.75)  # resize factor: 0.6 m source → 0.8–1.2 m
    colour_jitter: bool = True
    validate_every: int = 250
    seed: int = 0


def _resize(arr: torch.Tensor, size, mode):
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(arr[None], size=size, mode=mode, **kw)[0]


def augment(image: np.ndarray, mask: np.ndarray, cfg: TrainConfig,
            rng: np.random.Generator):
    """One random training crop: (3,crop,crop) float 0..1 and (crop,crop) int64."""
    img = torch.from_numpy(image).float() / 255.0
    lab = torch.from_numpy(mask.astype(np.float32))[None]
    scale = rng.uniform(*cfg.scale_range)
    h, w = img.shape[1:]
    size = (max(cfg.crop, round(h * scale)), max(cfg.crop, round(w * scale)))
    img = _resize(img, size, "bilinear")
    lab = _resize(lab, size, "nearest")[0]
    y = rng.integers(0, size[0] - cfg.crop + 1)
    x = rng.integers(0, size[1] - cfg.crop + 1)
    img = img[:, y:y + cfg.crop, x:x + cfg.crop]
    lab = lab[y:y + cfg.crop, x:x + cfg.crop]
    k = int(rng.integers(4))
    img, lab = torch.rot90(img, k, (1, 2)), torch.rot90(lab, k, (0, 1))
    if rng.random() < 0.5:
        img, lab = img.flip(2), lab.flip(1)
    if cfg.colour_jitter:
        img = radiometric_jitter(img, rng)
    return img.contiguous(), lab.long().contiguous()


def radiometric_jitter(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation, colour cast, gamma and haze, as seen between
    sensors, seasons and processing chains."""
    grey = img.mean(0, keepdim=True)
    sat = rng.uniform(0.4, 1.4)
    img = grey + (img - grey) * sat
    img = img * torch.tensor(rng.uniform(0.85, 1.15, 3), dtype=img.dtype).view(3, 1, 1)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.7, 1.3) + mean * rng.uniform(0.75, 1.25)
    img = img.clamp(0, 1) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.3:
        haze = rng.uniform(0.05, 0.35)
        img = img * (1 - haze) + haze * torch.tensor(rng.uniform(0.7, 0.95, 3),
                                                     dtype=img.dtype).view(3, 1, 1)
    return img.clamp(0, 1)


def segmentation_loss(output: dict, target: torch.Tensor, point_weight: float = 1.0):
    """CE of the coarse logits (upsampled to the label) + CE of the point predictions."""
    coarse = F.interpolate(output["coarse"], size=target.shape[1:], mode="bilinear",
                           align_corners=True)
    loss = F.cross_entropy(coarse, target, ignore_index=IGNORE)
    point_labels = F.grid_sample(target[:, None].float(),
                                 2 * output["points"].unsqueeze(2) - 1,
                                 mode="nearest", align_corners=False)
    point_labels = point_labels.squeeze(3).squeeze(1).long()
    loss_points = F.cross_entropy(output["rend"], point_labels, ignore_index=IGNORE)
    return loss + point_weight * loss_points


def binary_counts(pred: np.ndarray, truth: np.ndarray):
    """tp, fp, fn, tn over pixels whose truth is not ignored."""
    keep = truth != IGNORE
    p, t = pred[keep].astype(bool), truth[keep].astype(bool)
    return (int(np.sum(p & t)), int(np.sum(p & ~t)), int(np.sum(~p & t)),
            int(np.sum(~p & ~t)))


def scores(tp, fp, fn, tn):
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
    oa = (tp + tn) / max(1, tp + fp + fn + tn)
    return {"f1": f1, "precision": precision, "recall": recall, "iou": iou, "oa": oa}


@torch.inference_mode()
def evaluate(model, samples, scale: float = 0.6, batch_size: int = 8):
    """Scores on whole validation tiles resampled to ~1 m (scale 0.6 from 0.6 m)."""
    was_training = model.training
    model.eval()
    totals = np.zeros(4, dtype=np.int64)
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        imgs = torch.stack([torch.from_numpy(s[0]).float() / 255 for s in chunk])
        size = [round(d * scale) for d in imgs.shape[2:]]
        imgs = F.interpolate(imgs, size=size, mode="bilinear", align_corners=False)
        logits = model(to_model_input(imgs))
        logits = F.interpolate(logits, size=chunk[0][1].shape, mode="bilinear",
                               align_corners=False)
        pred = logits.argmax(1).numpy()
        for p, (_, m) in zip(pred, chunk):
            totals += binary_counts(p, m)
    model.train(was_training)
    return scores(*totals)


def poly_lr(base, step, total, power):
    return base * (1 - step / total) ** power


def train_model(model, train_samples, val_samples=(), cfg: TrainConfig = TrainConfig(),
                progress=None, is_canceled=None, log=print):
    """Train in place; returns the history and the best validation scores.

    The best state (by validation F1) is kept and restored at the end.
    """
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model.train()
    history, best, best_state = [], None, None
    t0 = time.time()
    for step in range(cfg.steps):
        if is_canceled and is_canceled():
            raise InterruptedError("training cancelled")
        for group in opt.param_groups:
            group["lr"] = poly_lr(cfg.lr, step, cfg.steps, cfg.poly_power)
        batch = [augment(*train_samples[i], cfg, rng)
                 for i in rng.integers(0, len(train_samples), cfg.batch_size)]
        x = to_model_input(torch.stack([b[0] for b in batch]))
        y = torch.stack([b[1] for b in batch])
        loss = segmentation_loss(model(x), y, cfg.point_loss_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.item())
        if progress:
            progress(step + 1, cfg.steps, history[-1])
        last = step + 1 == cfg.steps
        if val_samples and ((step + 1) % cfg.validate_every == 0 or last):
            val = evaluate(model, val_samples)
            log(f"step {step + 1}: loss {np.mean(history[-cfg.validate_every:]):.4f} "
                f"val F1 {val['f1']:.4f} IoU {val['iou']:.4f} "
                f"({time.time() - t0:.0f} s)")
            if best is None or val["f1"] > best["f1"]:
                best = dict(val, step=step + 1)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"loss_history": history, "best": best, "seconds": time.time() - t0}
