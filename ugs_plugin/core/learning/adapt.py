"""Output-space adversarial adaptation of UGSNet to a target region (AdaptSegNet).

A patch discriminator learns to tell the generator's softmax maps on labelled
source tiles from those on unlabelled target tiles; the generator keeps its
supervised loss on the source and learns to fool the discriminator on the target.
Recipe (DESIGN.md, AdaptSegNet defaults): generator SGD lr 2.5e-4, momentum 0.9,
weight decay 5e-4, poly 0.9; discriminator Adam lr 1e-4, betas (0.9, 0.99);
lambda_adv 0.001; BCE with logits. BatchNorm layers keep their running statistics
(eval mode): batches of a few tiles would make them noise.

Beyond the method: source tiles are recoloured part-way to the target's colour
statistics (``ColourTransfer``, random strength per tile), which did most of the
improvement in benchmarks/bench_adapt.py; reference polygons inside the region, when
given, add a supervised loss on the target tiles they cover. Entropy minimisation on
the target (ADVENT) was tried and lowered F1 (0.726 -> 0.663 on the controlled
shift), so it is not offered.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F

from ..mapping import imagery
from .colour import blend, ColourTransfer, pooled_pixels
from ..config import AdaptConfig, TrainConfig
from ..errors import Cancelled, UgsError
from ..feedback import Feedback, SILENT
from .region import sample_target_windows
from .training_tiles import IGNORE, load_source_tiles
from .train import augment, poly_lr, segmentation_loss
from ..model.ugsnet import PatchDiscriminator

SOURCE_LABEL, TARGET_LABEL = 0.0, 1.0


class AdaptationError(UgsError):
    """Adaptation cannot run as asked; the message says why."""


class AdaptationCancelled(Cancelled):
    """Stopped on request; nothing was written."""


def _target_batch(tiles, masks, picks, size: int, rng):
    """Random crops of the picked target tiles (and their reference masks, if any),
    with random flips; (images (N,3,size,size) 0..1, masks (N,size,size) or None)."""
    images, labels = [], []
    for i in picks:
        tile = tiles[i]
        h, w = tile.shape[1:]
        if h < size or w < size:
            raise AdaptationError(f"target tiles ({w}x{h}) are smaller than the tile "
                                  f"size {size}")
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        image = torch.from_numpy(np.ascontiguousarray(tile[:, y:y + size, x:x + size]))
        label = None
        if masks is not None:
            label = torch.from_numpy(masks[i][y:y + size, x:x + size].astype(np.int64))
        flip_x, flip_y = rng.integers(0, 2, 2)
        dims = [d for d, f in ((2, flip_x), (1, flip_y)) if f]
        if dims:
            image = image.flip(dims)
            label = label.flip([d - 1 for d in dims]) if label is not None else None
        images.append(image.float())
        labels.append(label)
    if masks is None:
        return torch.stack(images), None
    return torch.stack(images), torch.stack(labels)


def _freeze_batchnorm(model):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def _softmax_map(output, size):
    coarse = F.interpolate(output["coarse"], size=size, mode="bilinear",
                           align_corners=True)
    return torch.softmax(coarse, dim=1)


def adapt_model(model, source_samples, target_tiles, cfg: AdaptConfig = AdaptConfig(),
                *, target_masks=None, scaling: str = "minus_one_one",
                feedback: Feedback = SILENT):
    """Adapt ``model`` in place; returns the loss history and the discriminator.

    ``source_samples``: train.Sample-like objects (image uint8, mask); ``target_tiles``:
    float arrays (3, H, W) in 0..1 from the target region, H and W >= ``cfg.tile``.
    ``target_masks`` (optional, one (H, W) array per target tile: 1 green, 0 other,
    IGNORE unknown) adds a supervised loss on the target where reference exists.
    """
    if not source_samples or not target_tiles:
        raise AdaptationError("adaptation needs labelled source tiles and target tiles")
    if target_masks is not None and not any((m != IGNORE).any() for m in target_masks):
        target_masks = None
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    disc = PatchDiscriminator().to(device)
    opt_g = torch.optim.SGD(model.parameters(), lr=cfg.lr_generator,
                            momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_discriminator,
                             betas=(0.9, 0.99))
    source_cfg = TrainConfig(crop=cfg.tile, scale_range=(cfg.source_scale,) * 2,
                             colour_jitter=False)
    restyle = None
    if cfg.match_colours:
        restyle = ColourTransfer(
            pooled_pixels([s.image.astype(np.float32) / 255 for s in source_samples],
                           rng),
            pooled_pixels(target_tiles, rng))
    history = {"seg": [], "adv": [], "disc": []}
    if target_masks is not None:
        history["reference"] = []
    model.train()
    _freeze_batchnorm(model)
    disc.train()
    t0 = time.time()
    for it in range(cfg.iterations):
        if feedback.is_cancelled():
            raise AdaptationCancelled(f"cancelled at iteration {it}")
        for group in opt_g.param_groups:
            group["lr"] = poly_lr(cfg.lr_generator, it, cfg.iterations, cfg.poly_power)
        for group in opt_d.param_groups:
            group["lr"] = poly_lr(cfg.lr_discriminator, it, cfg.iterations,
                                  cfg.poly_power)
        picks = rng.integers(0, len(source_samples), cfg.batch_size)
        batch = [augment(source_samples[i].image, source_samples[i].mask, source_cfg,
                         rng) for i in picks]
        images = [b[0] for b in batch]
        if restyle:
            # Part-way recolouring (random strength): the model sees the whole path
            # between the source's colours and the target's, not one guess of the
            # latter (which alone made it over-map green in our tests).
            images = [blend(restyle(im), im, rng.uniform()) for im in images]
        xs = imagery.to_model_input(torch.stack(images), scaling).to(device)
        ys = torch.stack([b[1] for b in batch]).to(device)
        xt, yt = _target_batch(target_tiles, target_masks,
                               rng.integers(0, len(target_tiles), cfg.batch_size),
                               cfg.tile, rng)
        xt = imagery.to_model_input(xt, scaling).to(device)
        size = xs.shape[2:]

        # Generator: supervised on the source, fool the discriminator on the target.
        for p in disc.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        out_s = model(xs)
        seg = segmentation_loss(out_s, ys)
        out_t = model(xt)
        prob_t = _softmax_map(out_t, size)
        d_t = disc(prob_t)
        adv = F.binary_cross_entropy_with_logits(d_t, torch.full_like(d_t, SOURCE_LABEL))
        loss = seg + cfg.lambda_adv * adv
        if yt is not None:
            yt = yt.to(device)
            reference = (segmentation_loss(out_t, yt) if (yt != IGNORE).any()
                         else torch.zeros((), device=device))
            loss = loss + cfg.reference_weight * reference
            history["reference"].append(reference.item())
        loss.backward()
        opt_g.step()

        # Discriminator: source maps vs target maps.
        for p in disc.parameters():
            p.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        d_s = disc(_softmax_map(out_s, size).detach())
        d_t = disc(prob_t.detach())
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(
            d_s, torch.full_like(d_s, SOURCE_LABEL)) + F.binary_cross_entropy_with_logits(
            d_t, torch.full_like(d_t, TARGET_LABEL)))
        loss_d.backward()
        opt_d.step()

        history["seg"].append(seg.item())
        history["adv"].append(adv.item())
        history["disc"].append(loss_d.item())
        feedback.progress(100.0 * (it + 1) / cfg.iterations,
                          _losses_text(it + 1, cfg.iterations, history))
    model.eval()
    feedback.info(f"adapted in {cfg.iterations} iterations ({time.time() - t0:.0f} s)")
    return {"history": history, "discriminator": disc, "seconds": time.time() - t0}


def _losses_text(it, total, history):
    """The losses every 10th iteration (and the first and last), for the log."""
    if not (it == 1 or it % 10 == 0 or it == total):
        return ""
    text = (f"iteration {it}/{total}: segmentation {history['seg'][-1]:.4f}, "
            f"adversarial {history['adv'][-1]:.4f}, discriminator "
            f"{history['disc'][-1]:.4f}")
    if "reference" in history:
        text += f", reference {history['reference'][-1]:.4f}"
    return text


# ---------------------------------------------------------------- whole workflow


def reference_masks(windows, transform_of, reference):
    """Per window: 1 inside green reference polygons, 0 inside others, IGNORE
    elsewhere. ``reference``: (geometry, is_green) pairs in the raster's CRS."""
    from rasterio.features import rasterize
    masks = []
    for window in windows:
        shapes = [(g, 1 if green else 0) for g, green in reference]
        masks.append(rasterize(shapes, out_shape=(int(window.height), int(window.width)),
                               transform=transform_of(window), fill=IGNORE,
                               dtype="uint8"))
    return masks


def adapt_to_region(image_path, region, output, *, base_model=None, source=None,
                    cfg: AdaptConfig = AdaptConfig(), device="auto", bands=(),
                    target_count: int = 64, reference=None, region_crs=None,
                    feedback: Feedback = SILENT) -> dict:
    """Adapt ``base_model`` (default: the bundled one) to the imagery of
    ``image_path`` inside ``region`` (a BoundaryMask in the raster's CRS) and write
    ``output`` (a .pt path the caller checked) with its card. Returns the card.

    ``reference``: optional (geometry, is_green) pairs in the raster's CRS, used as
    extra supervision on the target tiles they cover.
    """
    import datetime
    from dataclasses import asdict, replace

    from ..mapping.imagery import BandPlanReader
    from ..model.files import choose_device, default_model, load_model, save_model
    if cfg.tile % 16 or cfg.tile < 32:
        raise AdaptationError(f"tile size {cfg.tile} must be a multiple of 16 and at "
                              "least 32")
    base_path = Path(base_model) if base_model else default_model(choose_device(device))
    if Path(output).resolve() == base_path.resolve():
        raise AdaptationError("the adapted model would overwrite its base model; "
                              "choose another file name")
    model, parent = load_model(base_path, device)
    samples, source_size = load_source_tiles(source, feedback=feedback)
    rng = np.random.default_rng(cfg.seed)
    try:
        src = rasterio.open(image_path)
    except rasterio.errors.RasterioIOError as err:
        raise AdaptationError(f"cannot open {image_path} as a raster: {err}") from None
    with src:
        if src.crs is None:
            raise AdaptationError(f"{Path(image_path).name} has no coordinate reference "
                                  "system: assign one first, so the region can be "
                                  "placed and the pixel size known")
        try:
            reader = BandPlanReader(src, parent, tuple(bands), None, feedback.info)
        except imagery.ImageryError as err:
            raise AdaptationError(str(err)) from None
        target_size = imagery.pixel_size_m(src.crs, src.transform, src.bounds)
        picks = sample_target_windows(src, region, target_count, cfg.tile, rng,
                                      lambda w: reader.read_unit(src, w))
        windows, tiles = [w for w, _ in picks], [t for _, t in picks]
        masks = None
        if reference:
            masks = reference_masks(windows, src.window_transform, reference)
            covered = sum(int((m != IGNORE).sum()) for m in masks)
            feedback.info(f"reference polygons cover {covered} px of the {len(windows)} target "
                "tiles" + ("" if covered else ": none inside the region, not used"))
            masks = masks if covered else None
        west, south, east, north = region.bounds()
        region_info = {"bounds": [west, south, east, north],
                       "crs": region_crs or src.crs.to_string(),
                       "area_m2": round(float(sum(g.area for g in region.geometries))
                                        * (target_size / abs(src.transform.a)) ** 2, 1)}
    cfg = replace(cfg, source_scale=source_size / target_size)
    feedback.info(f"target: {len(tiles)} tiles of {cfg.tile} px at about "
                  f"{target_size:.2f} m; source tiles resampled by "
                  f"{cfg.source_scale:.2f}")
    result = adapt_model(model, samples, tiles, cfg, target_masks=masks,
                         scaling=parent.get("input_scaling", "minus_one_one"),
                         feedback=feedback)
    history = result["history"]
    tail = max(1, min(20, cfg.iterations // 5))
    card = {k: v for k, v in parent.items()
            if k in ("variant", "input_bands", "input_scaling", "tile_size",
                     "pixel_size_m", "classes", "licence", "attribution")}
    card.update({
        "name": Path(output).stem,
        "parent_model": {"path": str(base_model or f"bundled ({base_path.name})"),
                         "name": parent.get("name")},
        "adaptation": {
            "method": "output-space adversarial training (AdaptSegNet) against a "
                      "patch discriminator"
                      + (", source tiles recoloured part-way to the target's colour "
                         "statistics"
                         if cfg.match_colours else "")
                      + (", target reference polygons as extra supervision"
                         if masks is not None else ""),
            "raster": str(Path(image_path).resolve()),
            "region": region_info,
            "target_tiles": len(tiles),
            "target_pixel_size_m": round(target_size, 3),
            "source": str(Path(source).resolve()) if source else "shipped source sample "
                      "(resources/source_sample)",
            "source_tiles": len(samples),
            "source_pixel_size_m": round(source_size, 3),
            "config": asdict(cfg),
            "iterations": cfg.iterations,
            "losses_first": {k: round(float(np.mean(v[:tail])), 4)
                             for k, v in history.items()},
            "losses_last": {k: round(float(np.mean(v[-tail:])), 4)
                            for k, v in history.items()},
            "seconds": round(result["seconds"], 1),
            "device": str(next(model.parameters()).device),
            "date": datetime.date.today().isoformat(),
        },
        "validation": None,
        "parent_validation": parent.get("validation"),
    })
    if feedback.is_cancelled():
        raise AdaptationCancelled("cancelled before the model was written")
    save_model(model, card, output, warn=feedback.warning)
    return card
