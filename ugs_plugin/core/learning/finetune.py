"""Fine-tuning on digitized reference polygons, with the gain measured on held-out ones.

What an analyst does when the map is wrong: draw a few polygons where it is wrong
("green" / "not green"), fine-tune, and see whether the map got better. Here:

* A share of the polygons (whole polygons, in spatial blocks) is held out; the others
  give the training labels. Unlabelled pixels are ignored in the loss, and a batch
  without any labelled pixel adds nothing (never a NaN).
* Crops are read around random points inside the training polygons, green and
  other equally often, and the two classes' labelled pixels weigh the same in the
  loss, so a few small polygons are enough and one large polygon does not dominate.
* The labelled source sample shipped with the plugin (the bundled model's training
  data) is mixed into every batch with a small weight, so the model does not forget
  what green space looks like elsewhere. Optionally the unsupervised terms of
  ``adapt.py`` work on the same raster: source tiles recoloured to its colours, and
  the output-space adversarial loss.
* Before and after: the base and the fine-tuned model map the surroundings of the
  held-out polygons exactly as the extraction does (same tiles, same blending), and
  F1 / precision / recall of green space are computed on those polygons.
"""
from __future__ import annotations

import copy
import datetime
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from rasterio.windows import Window

from shapely.ops import unary_union

from ..accuracy.metrics import binary_metrics, ConfusionMatrix
from ..config import GREEN, FinetuneConfig, TrainConfig
from ..errors import Cancelled, UgsError
from ..feedback import Feedback, SILENT
from ..mapping import imagery
from ..model.ugsnet import PatchDiscriminator
from ..outputs import remove_quietly
from . import check
from .region import NO_OVERVIEWS, predict_window, window_around
from .train import augment, evaluate, poly_lr, segmentation_loss, soft_cross_entropy
from .training_tiles import IGNORE

FEW_POLYGONS = 15  # per class; below this bench_finetune.py saw losses on some seeds
# Crops whose BatchNorm statistics stand for the raster: many small ones spread over
# it (256 of 96 px and 144 of 128 px gave the same map; 36 of 256 px a worse one).
BATCHNORM_CROPS, BATCHNORM_CROP = 256, 96
# Pixels (on the model's grid) of labelled source tiles each candidate maps for the
# check: all 58 shipped tiles up to about 1.4x upsampling, an even spread beyond.
SOURCE_CHECK_PIXELS = 8_000_000


class FinetuneError(UgsError):
    """Fine-tuning cannot run as asked; the message says why and how to fix it."""


class FinetuneCancelled(Cancelled):
    """Stopped on request; no model was written."""


@dataclass
class FinetuneResult:
    card: dict
    before: dict | None            # held-out scores of the base model
    after: dict | None             # ... and of the fine-tuned one
    train_polygons: int
    holdout_polygons: int
    labelled_pixels: int
    seconds: float
    history: list = field(default_factory=list)
    extent: tuple | None = None    # bounds of all the polygons, in the raster's CRS
    accepted: bool = True          # False: the check kept the base model
    decision: object = None        # check.Decision
    round: int = 1


# ---------------------------------------------------------------- held-out split

def split_holdout(geometries, classes, share: float, seed: int = 0):
    """(train indices, held-out indices): whole polygons, grouped in spatial blocks
    so that held-out polygons are not next to training ones. Both sides keep both
    classes where the polygons allow it."""
    n = len(geometries)
    if share <= 0 or n < 4:
        return list(range(n)), []
    centres = np.array([[g.centroid.x, g.centroid.y] for g in geometries])
    cells = max(2, math.ceil(math.sqrt(n / 3)))
    lo, hi = centres.min(0), centres.max(0)
    span = np.maximum(hi - lo, 1e-9)
    ij = np.minimum((cells * (centres - lo) / span).astype(int), cells - 1)
    block = ij[:, 0] * cells + ij[:, 1]
    rng = np.random.default_rng(seed)
    classes = np.asarray(classes)
    target = max(1, round(share * n))
    best = None
    for _ in range(200):  # the draw of blocks closest to the share, both classes
        held = []
        for b in rng.permutation(np.unique(block)):
            if len(held) >= target:
                break
            held += list(np.flatnonzero(block == b))
        held_set = set(held)
        train = [i for i in range(n) if i not in held_set]
        if len(set(classes[train])) == 2 and len(set(classes[held])) == 2 and (
                best is None or abs(len(held) - target) < abs(len(best[1]) - target)):
            best = (train, sorted(held))
    if best is not None:
        return best
    # Blocks cannot give both classes on both sides: take a spatial slice per class.
    held = []
    for value in (0, 1):
        idx = np.flatnonzero(classes == value)
        if len(idx) >= 2:
            order = idx[np.argsort(centres[idx, 0])]
            held += list(order[-min(len(idx) - 1, max(1, round(share * len(idx)))):])
    held_set = set(held)
    return [i for i in range(n) if i not in held_set], sorted(held)


def frame_of(geometries, frames) -> list:
    """The index of the frame (``imagery.source_frames``) each polygon lies on: the
    one holding its centre, else the nearest."""
    from shapely.geometry import box
    boxes = [box(*bounds) for _, bounds in frames]
    out = []
    for g in geometries:
        centre = g.centroid
        inside = [k for k, b in enumerate(boxes) if b.covers(centre)]
        out.append(inside[0] if inside else
                   int(np.argmin([b.distance(centre) for b in boxes])))
    return out


def split_by_frames(frames_of, classes, share: float, seed: int = 0):
    """(train indices, held-out indices, held frames): the marks of whole frames held
    out, so the check scores the model on imagery it was not fine-tuned on. The frames
    whose marks come closest to ``share`` (at most twice it) with both classes on both
    sides; None when no choice of frames gives that."""
    frames_of, classes = np.asarray(frames_of), np.asarray(classes)
    n = len(classes)
    marked = np.unique(frames_of)
    if share <= 0 or n < 4 or len(marked) < 2:
        return None
    target = share * n
    rng = np.random.default_rng(seed)
    if len(marked) <= 12:
        choices = [marked[[k for k in range(len(marked)) if m >> k & 1]]
                   for m in range(1, 2 ** len(marked) - 1)]
    else:
        choices = [rng.choice(marked, size, replace=False) for size in
                   rng.integers(1, len(marked), 2000)]
    best = None
    for pick in rng.permutation(len(choices)):  # ties: a seeded draw
        held_frames = choices[pick]
        held = np.isin(frames_of, held_frames)
        count = int(held.sum())
        if count > 2 * target or len(set(classes[held])) < 2 \
                or len(set(classes[~held])) < 2:
            continue
        if best is None or abs(count - target) < abs(best[0] - target):
            best = (count, held, sorted(int(f) for f in held_frames))
    if best is None:
        return None
    _, held, held_frames = best
    return (list(np.flatnonzero(~held)), list(np.flatnonzero(held)), held_frames)


# ---------------------------------------------------------------- reading crops

def _random_points_in(geometry, count, rng, tries: int = 50):
    from shapely.geometry import Point
    minx, miny, maxx, maxy = geometry.bounds
    points = []
    for _ in range(count * tries):
        if len(points) == count:
            break
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if geometry.contains(p):
            points.append((p.x, p.y))
    while len(points) < count:  # slivers: the point the geometry is sure to hold
        p = geometry.representative_point()
        points.append((p.x, p.y))
    return points


def label_window(shapes, window_transform, shape):
    """1 inside green polygons, 0 inside others, IGNORE elsewhere."""
    from rasterio.features import rasterize
    if not shapes:
        return np.full(shape, IGNORE, np.uint8)
    return rasterize([(g, int(v)) for g, v in shapes], out_shape=shape,
                     transform=window_transform, fill=IGNORE, dtype="uint8")


def read_training_crops(src, reader, shapes, count, crop, rng):
    """``count`` crops (unit image (3,crop,crop) float32, label (crop,crop) uint8)
    around random points inside the polygons, green and other equally often."""
    if src.width < crop or src.height < crop:
        raise FinetuneError(f"the raster ({src.width}x{src.height}) is smaller than one "
                            f"{crop} px crop")
    by_class = {v: [i for i, (_, c) in enumerate(shapes) if c == v] for v in (0, 1)}
    areas = np.array([max(g.area, 1e-9) for g, _ in shapes])
    inverse = ~src.transform
    crops = []
    for k in range(count):
        members = by_class[k % 2] or by_class[1 - k % 2]
        weights = np.sqrt(areas[members])  # large polygons more, but not only them
        i = members[int(rng.choice(len(members), p=weights / weights.sum()))]
        (x, y), = _random_points_in(shapes[i][0], 1, rng)
        col, row = inverse * (x, y)
        jitter = rng.integers(-crop // 4, crop // 4 + 1, 2)
        col0 = int(np.clip(col - crop // 2 + jitter[0], 0, src.width - crop))
        row0 = int(np.clip(row - crop // 2 + jitter[1], 0, src.height - crop))
        window = Window(col0, row0, crop, crop)
        unit, valid = reader.read_unit(src, window)
        label = label_window(shapes, src.window_transform(window), (crop, crop))
        label[~valid] = IGNORE
        if (label != IGNORE).any():
            crops.append((unit.astype(np.float32), label))
    if not crops:
        raise FinetuneError("no labelled pixel could be read under the training "
                            "polygons (all nodata?); check they lie on the raster")
    return crops


def raster_crops(src, reader, count, crop, rng, min_valid: float = 0.5):
    """Up to ``count`` unit images (3,crop,crop) at random over the raster, each at
    least ``min_valid`` valid, nodata set to neutral grey as the mapping does."""
    crop = min(crop, src.width, src.height)
    images = []
    for _ in range(count * 4):
        if len(images) == count:
            break
        window = Window(int(rng.integers(0, src.width - crop + 1)),
                        int(rng.integers(0, src.height - crop + 1)), crop, crop)
        unit, valid = reader.read_unit(src, window)
        if valid.mean() >= min_valid:
            unit[:, ~valid] = 0.5
            images.append(unit.astype(np.float32))
    return images


@torch.no_grad()
def batchnorm_from(model, images, scaling, batch_size: int = 16):
    """Re-estimate every BatchNorm's statistics on ``images`` (AdaBN, Li et al. 2017):
    the normalisation then fits the raster's colours, the weights stay as they are."""
    norms = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or not images:
        return
    device = next(model.parameters()).device
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches
        m.train()
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(np.stack(images[start:start + batch_size]))
        model(imagery.to_model_input(chunk, scaling).to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def candidate_state(model, base_state, tuned_state, alpha, images, scaling) -> dict:
    """The weights of one candidate: the mix ``alpha`` of base and fine-tuned weights,
    with its BatchNorm statistics from ``images`` of the raster when given. Leaves
    them loaded in ``model``."""
    model.load_state_dict(check.mix(base_state, tuned_state, alpha))
    if images:
        batchnorm_from(model, images, scaling)
    return copy.deepcopy(model.state_dict())


def _target_batch(crops, picks, rng):
    """(images, labels, base probabilities of green or None), rotated and flipped
    together."""
    images, labels, teacher = [], [], []
    for i in picks:
        image, label = torch.from_numpy(crops[i][0]), torch.from_numpy(crops[i][1])
        prob = torch.from_numpy(crops[i][2]) if len(crops[i]) > 2 else None
        k = int(rng.integers(4))
        image, label = torch.rot90(image, k, (1, 2)), torch.rot90(label, k, (0, 1))
        prob = None if prob is None else torch.rot90(prob, k, (0, 1))
        if rng.random() < 0.5:
            image, label = image.flip(2), label.flip(1)
            prob = None if prob is None else prob.flip(1)
        images.append(image)
        labels.append(label.long())
        teacher.append(prob)
    return (torch.stack(images), torch.stack(labels),
            None if teacher[0] is None else torch.stack(teacher).float())


@torch.inference_mode()
def base_probabilities(model, crops, scaling, batch_size: int = 16):
    """The crops with the (base) model's probability of green added, float16."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(crops), batch_size):
        chunk = crops[start:start + batch_size]
        x = imagery.to_model_input(torch.from_numpy(np.stack([c[0] for c in chunk])),
                                   scaling).to(device)
        prob = torch.softmax(model(x).float(), 1)[:, 1].cpu().numpy().astype(np.float16)
        out += [(c[0], c[1], p) for c, p in zip(chunk, prob)]
    return out


def distillation_loss(output, labels, teacher):
    """Cross-entropy to the base's probabilities on the pixels no mark labels: the
    model keeps its map where nobody said it was wrong."""
    coarse = F.interpolate(output["coarse"].float(), size=labels.shape[1:],
                           mode="bilinear", align_corners=True)
    free = (labels == IGNORE).float()
    if free.sum() == 0:
        return coarse.sum() * 0.0
    return (soft_cross_entropy(coarse, teacher) * free).sum() / free.sum()


HEAD_MODULES = ("decoder", "pointhead")


def class_balance(labels):
    """Per-pixel weights giving green and other labelled pixels equal total weight:
    one large 'not green' polygon must not outweigh many small green ones."""
    green = (labels == 1).float()
    other = (labels == 0).float()
    n_green, n_other = green.sum(), other.sum()
    if n_green == 0 or n_other == 0:
        return None
    total = n_green + n_other
    return green * (total / (2 * n_green)) + other * (total / (2 * n_other))


def source_check_tiles(samples, scale: float, budget: int = SOURCE_CHECK_PIXELS):
    """The labelled source tiles the check maps with each candidate: all of them, or
    an even spread of them (the sample lists its cities one after another, so each
    keeps its share) within ``budget`` pixels once resampled by ``scale``."""
    if not samples:
        return []
    per_tile = samples[0].image.shape[1] * samples[0].image.shape[2] * scale ** 2
    count = int(min(len(samples), max(1, budget // max(per_tile, 1))))
    picks = np.unique(np.linspace(0, len(samples) - 1, count).round().astype(int))
    return [samples[i] for i in picks]


def source_f1(model, samples, scale: float):
    """F1 of green space on labelled source tiles, mapped at the raster's pixel
    size as the fine-tuning saw them; None without tiles."""
    return float(evaluate(model, samples, scale)["f1"]) if samples else None


def _part(output, part):
    return {k: v[part] for k, v in output.items()}


# ---------------------------------------------------------------- the loop

def finetune_model(model, crops, source_samples=(), cfg: FinetuneConfig = FinetuneConfig(),
                   *, source_scale: float = 1.0, scaling: str = "minus_one_one",
                   feedback: Feedback = SILENT):
    """Fine-tune ``model`` in place on ``crops`` (unit image, label[, base
    probability]) from the raster, with ``source_samples`` (train.Sample) mixed in.
    The recipe's terms (FinetuneConfig): distillation of the base's map on unmarked
    pixels, an L2 pull to the base weights, the decoder and heads first. With
    ``cfg.seconds`` the number of steps is what fits in that time (at most
    ``cfg.iterations``). Returns the loss history (one dict per step)."""
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    anchor = ([(p, p.detach().clone()) for p in model.parameters()]
              if cfg.l2sp > 0 else [])
    use_source = bool(source_samples) and cfg.source_weight > 0 and cfg.source_per_batch > 0
    source_cfg = TrainConfig(crop=cfg.crop, scale_range=(source_scale,) * 2)
    restyle = None
    if use_source and cfg.match_colours:
        from .colour import blend, ColourTransfer, pooled_pixels
        restyle = ColourTransfer(
            pooled_pixels([s.image.astype(np.float32) / 255 for s in source_samples],
                           rng), pooled_pixels([c[0] for c in crops], rng))
    disc = opt_d = None
    if use_source and cfg.lambda_adv > 0:
        disc = PatchDiscriminator().to(device).train()
        opt_d = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.9, 0.99))
    history = []
    model.train()
    if cfg.freeze_batchnorm:
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
    head = {n for n, _ in model.named_parameters() if n.split(".")[0] in HEAD_MODULES}
    total, t0, step = cfg.iterations, time.perf_counter(), 0
    while step < total:
        if feedback.is_cancelled():
            raise FinetuneCancelled(f"cancelled at step {step}; no model written")
        if cfg.seconds and step == 5:  # the budget in steps, from the first five
            per_step = (time.perf_counter() - t0) / 5
            total = int(min(cfg.iterations, max(10, cfg.seconds / per_step)))
        heads_only = step < cfg.head_first * total
        for name, p in model.named_parameters():
            p.requires_grad_(not heads_only or name in head)
        for group in opt.param_groups:
            group["lr"] = poly_lr(cfg.lr, step, total, cfg.poly_power)
        x_t, y_t, teacher = _target_batch(crops, rng.integers(0, len(crops),
                                                              cfg.batch_size), rng)
        xs, ys = [x_t], [y_t]
        if use_source:
            batch = [augment(source_samples[i].image, source_samples[i].mask, source_cfg,
                             rng)
                     for i in rng.integers(0, len(source_samples), cfg.source_per_batch)]
            images = [b[0] for b in batch]
            if restyle:  # part-way, random strength, as in adapt.py
                images = [blend(restyle(im), im, rng.uniform()) for im in images]
            xs.append(torch.stack(images))
            ys.append(torch.stack([b[1] for b in batch]))
        x = imagery.to_model_input(torch.cat(xs), scaling).to(device)
        y = torch.cat(ys).to(device)
        n_t = len(x_t)
        output = model(x)
        target = slice(0, n_t)
        loss = segmentation_loss(_part(output, target), y[target],
                                 pixel_weight=class_balance(y[target]))
        record = {"target": loss.item()}
        if teacher is not None and cfg.distill > 0:
            kept = distillation_loss(_part(output, target), y[target], teacher.to(device))
            loss = loss + cfg.distill * kept
            record["distill"] = kept.item()
        if anchor:
            pull = sum(((p - p0) ** 2).sum() for p, p0 in anchor)
            loss = loss + cfg.l2sp * pull
            record["l2sp"] = pull.item()
        if use_source:
            source = slice(n_t, None)
            loss_s = segmentation_loss(_part(output, source), y[source])
            loss = loss + cfg.source_weight * loss_s
            record["source"] = loss_s.item()
        if disc is not None:
            size = x.shape[2:]
            maps = torch.softmax(F.interpolate(output["coarse"], size=size,
                                               mode="bilinear", align_corners=True), 1)
            for p in disc.parameters():
                p.requires_grad_(False)
            d_t = disc(maps[target])
            adv = F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t))
            loss = loss + cfg.lambda_adv * adv
            record["adversarial"] = adv.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if disc is not None:
            for p in disc.parameters():
                p.requires_grad_(True)
            opt_d.zero_grad(set_to_none=True)
            d_s, d_t = disc(maps[n_t:].detach()), disc(maps[:n_t].detach())
            loss_d = 0.5 * (F.binary_cross_entropy_with_logits(d_s, torch.zeros_like(d_s))
                            + F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t)))
            loss_d.backward()
            opt_d.step()
        history.append(record)
        step += 1
        feedback.progress(100.0 * step / total, f"step {step}/{total}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in record.items()))
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return history


# ---------------------------------------------------------------- mapping and scores

def _merged_windows(src, geometries, margin):
    """Windows around the polygons, overlapping ones merged (each pixel mapped once)."""
    windows = [w for w in (window_around(src, g.bounds, margin) for g in geometries)
               if w is not None]
    merged = True
    while merged:
        merged = False
        out = []
        for w in windows:
            for k, o in enumerate(out):
                if (w.col_off < o.col_off + o.width and o.col_off < w.col_off + w.width
                        and w.row_off < o.row_off + o.height
                        and o.row_off < w.row_off + w.height):
                    c0, r0 = min(w.col_off, o.col_off), min(w.row_off, o.row_off)
                    c1 = max(w.col_off + w.width, o.col_off + o.width)
                    r1 = max(w.row_off + w.height, o.row_off + o.height)
                    out[k] = Window(c0, r0, c1 - c0, r1 - r0)
                    merged = True
                    break
            else:
                out.append(w)
        windows = out
    return windows


def holdout_scores(image_path, shapes, model, card, context: int, scratch, *,
                   feedback: Feedback = SILENT):
    """Green-space scores of the model's map on held-out (geometry, 0/1) polygons."""
    from ..accuracy.metrics import assess_polygons, ReferenceDataError
    cm = ConfusionMatrix()
    with rasterio.open(image_path) as src:
        windows = _merged_windows(src, [g for g, _ in shapes], context)
    share = 100.0 / max(1, len(windows))
    for n, window in enumerate(windows):
        out = Path(scratch) / f"holdout_{n}.tif"
        try:
            predict_window(image_path, window, out, model, card, options=NO_OVERVIEWS,
                           feedback=feedback.part(n * share, (n + 1) * share,
                                                  quiet=True))
            part = assess_polygons(out, shapes)
            cm.matrix += part.matrix
        except ReferenceDataError:  # only nodata under the polygons of this window
            pass
        finally:
            remove_quietly(out)
    metrics = binary_metrics(cm.matrix.tolist())
    green = metrics["green"]
    return {"f1": green["f1"], "precision": green["precision"], "recall": green["recall"],
            "overall_accuracy": metrics["overall_accuracy"], "pixels": int(metrics["n"])}


# ---------------------------------------------------------------- the workflow

def finetune_on_reference(image_path, reference, output, *, base_model=None,
                          cfg: FinetuneConfig = FinetuneConfig(), device="auto",
                          bands=(), source=None, reference_crs=None, candidate=None,
                          checks=(), feedback: Feedback = SILENT) -> FinetuneResult:
    """Fine-tune ``base_model`` (default: the bundled one) on ``reference``
    ((geometry, 1 green / 0 other) in the raster's CRS) over ``image_path``, write
    ``output`` (a .pt path the caller checked, card beside it), and score base and
    fine-tuned model on held-out polygons. Progress once per training step.

    ``checks``: marks (as ``reference``) that only check the result, never trained
    on, such as the check squares of ``suggest`` (placed at random, not where the
    model is unsure). With both classes among them they are the hold-out, and all
    of ``reference`` trains; else they join the marks and the hold-out is drawn
    from all of them in spatial blocks.

    The check (check.py) decides what ``output`` holds: the fine-tuned model (or a
    mix of it with the base) when it beats the base on the held-out polygons without
    moving the map far away from the marks, else the base model again, with the
    reason in its card; ``candidate``, when given, receives the best candidate (the
    mix with the highest held-out F1) either way. The card keeps the rounds: the
    base's rounds and this one."""
    from ..mapping.imagery import BandPlanReader
    from ..model.files import choose_device, default_model, load_model, save_model
    from .training_tiles import load_source_tiles
    t0 = time.time()
    if cfg.crop % 16 or cfg.crop < 32:
        raise FinetuneError(f"crop size {cfg.crop} must be a multiple of 16, at least 32")
    if not 0 <= cfg.holdout < 1:
        raise FinetuneError(f"hold-out share {cfg.holdout} must be in [0, 1)")
    if cfg.iterations < 1:
        raise FinetuneError("iterations must be at least 1")
    base_path = Path(base_model) if base_model else default_model(choose_device(device))
    if Path(output).resolve() == base_path.resolve():
        raise FinetuneError("the fine-tuned model would overwrite its base model; choose "
                            "another file name")
    shapes = _usable(reference)
    checks = _usable(checks)
    if not shapes:
        raise FinetuneError("the reference layer has no polygons with a class to train "
                            "on; mark some green and some not-green areas first"
                            + (" (check marks only check the result)" if checks else ""))
    try:
        src = rasterio.open(image_path)
    except rasterio.errors.RasterioIOError as err:
        raise FinetuneError(f"cannot open {image_path} as a raster: {err}") from None
    with src:
        if src.crs is None:
            raise FinetuneError(f"{Path(image_path).name} has no coordinate reference "
                                "system: assign one so the polygons can be placed")
        shapes = _on_raster(shapes, src.bounds)
        checks = _on_raster(checks, src.bounds)
        if checks and len({c for _, c in checks}) < 2:
            feedback.warning(f"the {len(checks)} check mark(s) on this raster are all "
                             f"{'green' if checks[0][1] else 'not green'}: a check needs "
                             "both classes, so they join the training marks and the "
                             "hold-out is drawn from all marks")
            shapes, checks = shapes + checks, []
        counts = {v: sum(c == v for _, c in shapes) for v in (0, 1)}
        if not counts[0] or not counts[1]:
            missing = "green space" if not counts[1] else "not green space"
            raise FinetuneError(
                f"the reference polygons on this raster have no '{missing}' polygon "
                f"({counts[1]} green, {counts[0]} other): mark at least one of each, "
                "ideally where the map is wrong")
        holdout_from = "check marks" if checks else "spatial blocks of the marks"
        if checks:
            train_shapes, held_shapes = shapes, checks
            feedback.info(f"{len(checks)} check marks hold out; all "
                          f"{len(shapes)} other marks train")
            marked = unary_union([g for g, _ in shapes])
            touching = sum(g.intersects(marked) for g, _ in checks)
            if touching:
                feedback.warning(f"{touching} check mark(s) overlap training marks, so "
                                 "they partly check what was trained on: move them, or "
                                 "clear their check field")
        else:
            geometries, classes = [g for g, _ in shapes], [c for _, c in shapes]
            frames = imagery.source_frames(src)
            on_frame = frame_of(geometries, frames) if frames else []
            by_frames = split_by_frames(on_frame, classes, cfg.holdout, cfg.seed) \
                if frames else None
            if by_frames:
                train_idx, held_idx, held_frames = by_frames
                names = ", ".join(frames[k][0] for k in held_frames)
                holdout_from = f"the marks on whole frames of the mosaic: {names}"
                feedback.info(f"{len(held_idx)} marks on {len(held_frames)} of "
                              f"{len(set(on_frame))} marked frames ({names}) hold "
                              "out, so the check scores the model on imagery it was "
                              "not fine-tuned on")
            else:
                train_idx, held_idx = split_holdout(geometries, classes, cfg.holdout,
                                                    cfg.seed)
            if cfg.holdout > 0 and not held_idx:
                feedback.warning(f"only {len(shapes)} polygons: too few to hold some "
                                 "out; the gain cannot be measured (mark at least 4, 2 "
                                 "of each class)")
            train_shapes = [shapes[i] for i in train_idx]
            held_shapes = [shapes[i] for i in held_idx]
        marked_parts, imaged_parts = check.parts_marked(
            src, [g for g, _ in shapes + checks])
        if held_shapes and marked_parts <= imaged_parts // 2:
            feedback.warning(
                f"the marks lie in {marked_parts} of the raster's {imaged_parts} parts "
                f"({check.PARTS} x {check.PARTS} with imagery): the check speaks for those "
                "parts only, and a gain there can come with a loss elsewhere (one "
                "district marked, another lost, benchmarks/RESULTS.md). Spread marks "
                "or check squares over the whole area to map (Suggest places to mark).")
        fewest = min(sum(c == v for _, c in train_shapes) for v in (0, 1))
        if fewest < FEW_POLYGONS:
            feedback.warning(f"only {fewest} training polygon(s) of one class: with fewer than "
                 f"{FEW_POLYGONS} per class the gain varies a lot and the model can get "
                 "worse (benchmarks/bench_finetune.py). Mark about 20 of each class, "
                 "spread over the raster, including places the map already gets right.")
        model, parent = load_model(base_path, device)
        try:
            reader = BandPlanReader(src, parent, tuple(bands), None, feedback.info)
        except imagery.ImageryError as err:
            raise FinetuneError(str(err)) from None
        pixel_size = imagery.pixel_size_m(src.crs, src.transform, src.bounds) or 1.0
        rng = np.random.default_rng(cfg.seed)
        crops = read_training_crops(src, reader, train_shapes, cfg.windows, cfg.crop, rng)
        bn_images = raster_crops(src, reader, BATCHNORM_CROPS, BATCHNORM_CROP, rng) \
            if cfg.raster_batchnorm else []
        guards = check.guard_windows(src, cfg.guard_windows if held_shapes else 0,
                                     seed=cfg.seed)
        away = check.away_from(src, guards, [g for g, _ in shapes + checks],
                               check.GUARD_MARGIN * abs(src.transform.a))
    labelled = int(sum((c[1] != IGNORE).sum() for c in crops))
    feedback.info(f"{len(train_shapes)} training polygons "
                  f"({sum(c for _, c in train_shapes)} green), {len(held_shapes)} held "
                  f"out; {len(crops)} crops of {cfg.crop} px, {labelled} labelled "
                  "pixels in them")
    scaling = parent.get("input_scaling", "minus_one_one")
    if cfg.distill > 0:
        crops = base_probabilities(model, crops, scaling)
    source_samples, source_scale = (), 1.0
    # The sample is mapped for the check only when a check decides and weighs it.
    check_source = bool(held_shapes) and cfg.accept != "always" and \
        cfg.max_source_drop < 1
    replay = cfg.source_weight > 0 and cfg.source_per_batch > 0
    if replay or check_source:
        source_samples, source_size = load_source_tiles(source, feedback=feedback)
        source_scale = source_size / pixel_size
    source_checked = source_check_tiles(source_samples, source_scale) \
        if check_source else []
    base_state = copy.deepcopy(model.state_dict())

    scratch = tempfile.mkdtemp(prefix=".ugs_finetune_", dir=Path(output).parent)
    try:
        before = None
        if held_shapes:
            feedback.info("Scoring the base model on the held-out polygons…")
            before = holdout_scores(image_path, held_shapes, model, parent, cfg.context,
                                    scratch, feedback=feedback.part(0, 3))
            feedback.info(_describe("base model", before))
        base_maps, base_sure = check.map_windows(image_path, guards, model, parent,
                                                 scratch, sure=True,
                                                 feedback=feedback.part(3, 5))
        base_source_f1 = source_f1(model, source_checked, source_scale)
        t_train = time.time()
        history = finetune_model(model, crops, source_samples, cfg,
                                 source_scale=source_scale, scaling=scaling,
                                 feedback=feedback.part(5, 85))
        train_seconds = time.time() - t_train
        feedback.info(f"{len(history)} training steps in {train_seconds:.0f} s"
                      + (f" (budget {cfg.seconds:g} s)" if cfg.seconds else ""))
        tuned_state = copy.deepcopy(model.state_dict())
        card = _card(parent, base_path, base_model, image_path, cfg, train_shapes,
                     held_shapes, labelled, history, reference_crs or src.crs.to_string(),
                     device=str(next(model.parameters()).device),
                     holdout_from=holdout_from)
        card["finetuning"]["marked_parts"] = f"{marked_parts} of {imaged_parts}"
        alphas = check.ALPHAS if cfg.interpolate and held_shapes else (1.0,)
        if bn_images and cfg.interpolate and held_shapes:
            alphas = (0.0,) + alphas  # the base's weights, normalised for the raster
        candidates, states = [], {}
        for n, alpha in enumerate(alphas):
            states[alpha] = candidate_state(model, base_state, tuned_state, alpha,
                                            bn_images, scaling)
            part = feedback.part(85 + 15 * n / len(alphas), 85 + 15 * (n + 1) / len(alphas))
            scores = holdout_scores(image_path, held_shapes, model, card, cfg.context,
                                    scratch, feedback=part.part(0, 50)) \
                if held_shapes else None
            maps = check.map_windows(image_path, guards, model, card, scratch,
                                     feedback=part.part(50, 100))
            candidates.append(check.Candidate(
                alpha, scores, **check.measure(base_maps, base_sure, maps, away),
                source_f1=source_f1(model, source_checked, source_scale)))
        decision = check.decide(before, candidates, cfg.max_moved, cfg.accept,
                                cfg.max_moved_sure, cfg.min_gain,
                                cfg.max_source_drop, base_source_f1)
        after = decision.best.scores if decision.best else None
        base_green = check.class_share(base_maps, away, GREEN)
        feedback.info(_describe_candidates(before, candidates, base_green,
                                           base_source_f1))
        if feedback.is_cancelled():
            raise FinetuneCancelled("cancelled before the model was written")
        best = decision.best or candidates[-1]
        info = card["finetuning"]
        info.update(holdout_before=before, holdout_after=after,
                    steps=len(history), train_seconds=round(train_seconds, 1),
                    check=dict(decision.as_card(), base_green=base_green,
                               base_source_f1=base_source_f1,
                               source_tiles_checked=len(source_checked)),
                    seconds=round(time.time() - t0, 1))
        if candidate:
            model.load_state_dict(states[best.alpha])
            save_model(model, dict(card, validation=best.scores,
                                   name=card["name"] + " (candidate)"),
                       candidate, warn=feedback.warning)
        round_entry = _round(parent, info, decision, best)
        card["finetuning_rounds"] = list(parent.get("finetuning_rounds", [])) + [
            round_entry]
        if decision.accepted:
            model.load_state_dict(states[decision.chosen.alpha])
            card["validation"] = decision.chosen.scores
            save_model(model, card, output, warn=feedback.warning)
        else:
            model.load_state_dict(base_state)
            kept = {k: v for k, v in parent.items() if k not in ("onnx", "sha256")}
            kept.update(finetuning_rounds=card["finetuning_rounds"], finetuning=info)
            save_model(model, kept, output, warn=feedback.warning)
            feedback.warning(
                f"kept the base model: {decision.reason}. {output} holds the base "
                "model again. Mark more, and more varied, places (Suggest places to "
                "mark shows where), then run again.")
    except Cancelled:
        raise FinetuneCancelled("cancelled; no model written") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return FinetuneResult(card, before, after, len(train_shapes), len(held_shapes),
                          labelled, time.time() - t0, history,
                          extent=unary_union([g for g, _ in shapes + checks]).bounds,
                          accepted=decision.accepted, decision=decision,
                          round=round_entry["round"])


def _round(parent, info, decision, best):
    """One entry of the card's round history."""
    rounds = parent.get("finetuning_rounds", [])
    return {"round": len(rounds) + 1, "marks": info["train_polygons"]
            + info["holdout_polygons"], "train_polygons": info["train_polygons"],
            "holdout_polygons": info["holdout_polygons"],
            "holdout_f1_before": (info["holdout_before"] or {}).get("f1"),
            "holdout_f1_after": best.f1, "alpha": best.alpha, "moved": best.moved,
            "moved_sure": best.moved_sure, "green_away": best.green,
            "source_f1": best.source_f1,
            "decision": decision.as_card()["decision"], "date": info["date"]}


def _describe_candidates(before, candidates, base_green=None, base_source_f1=None):
    def fmt(v, percent=False):
        if v is None:
            return "n/a"
        return f"{100 * v:.1f} %" if percent else f"{v:.3f}"
    rows = [f"mix {c.alpha:g}: held-out F1 {fmt(c.f1)}, map moved {fmt(c.moved, True)}"
            f" ({fmt(c.moved_sure, True)} where the base was sure), mapped green "
            f"{fmt(c.green, True)}"
            + ("" if c.source_f1 is None else f", source sample F1 {fmt(c.source_f1)}")
            for c in candidates]
    source = "" if base_source_f1 is None else \
        f"; on the labelled source sample its F1 is {fmt(base_source_f1)}"
    return (f"Candidates (base held-out F1 {fmt((before or {}).get('f1'))}; away from "
            f"the marks the base maps {fmt(base_green, True)} green{source}): "
            + "; ".join(rows))


def _describe(what, scores):
    def fmt(v):
        return "undefined" if v is None else f"{v:.3f}"
    return (f"held-out polygons, {what}: F1 {fmt(scores['f1'])}, precision "
            f"{fmt(scores['precision'])}, recall {fmt(scores['recall'])} "
            f"({scores['pixels']} px)")


def _usable(marks):
    return [(g, int(bool(v))) for g, v in marks if g is not None and not g.is_empty]


def _on_raster(marks, bounds):
    left, bottom, right, top = bounds
    return [(g, v) for g, v in marks if g.bounds[0] < right and g.bounds[2] > left
            and g.bounds[1] < top and g.bounds[3] > bottom]


def _card(parent, base_path, base_model, image_path, cfg, train_shapes, held_shapes,
          labelled, history, crs, device, holdout_from):
    tail = max(1, min(20, len(history) // 5))
    keys = history[0].keys() if history else ()
    card = {k: v for k, v in parent.items()
            if k in ("variant", "input_bands", "input_scaling", "tile_size",
                     "pixel_size_m", "classes", "licence", "attribution")}
    card.update({
        "name": f"{parent.get('name', 'UGSNet')} fine-tuned on reference polygons",
        "parent_model": {"path": str(base_model or f"bundled ({base_path.name})"),
                         "name": parent.get("name")},
        "finetuning": {
            "method": "supervised fine-tuning on digitized reference polygons "
                      "(unlabelled pixels ignored), labelled source sample mixed in"
                      + (", source recoloured to the raster" if cfg.match_colours else "")
                      + (", output-space adversarial term" if cfg.lambda_adv > 0 else "")
                      + (", each candidate's BatchNorm statistics from the raster "
                         "(mix 0: the base's weights so normalised)"
                         if cfg.raster_batchnorm else ""),
            "raster": str(Path(image_path).resolve()),
            "crs": crs,
            "train_polygons": len(train_shapes),
            "train_green_polygons": sum(c for _, c in train_shapes),
            "holdout_polygons": len(held_shapes),
            "holdout_from": holdout_from,
            "labelled_pixels_in_crops": labelled,
            "config": asdict(cfg),
            "losses_first": {k: round(float(np.mean([h[k] for h in history[:tail]])), 4)
                             for k in keys},
            "losses_last": {k: round(float(np.mean([h[k] for h in history[-tail:]])), 4)
                            for k in keys},
            "device": device,
            "date": datetime.date.today().isoformat(),
        },
        "parent_validation": parent.get("validation"),
    })
    return card
