"""Output-space adversarial adaptation of UGSNet to a target region (AdaptSegNet).

A patch discriminator learns to tell the generator's softmax maps on labelled
source tiles from those on unlabelled target tiles; the generator keeps its
supervised loss on the source and learns to fool the discriminator on the target.
Recipe (DESIGN.md, AdaptSegNet defaults): generator SGD lr 2.5e-4, momentum 0.9,
weight decay 5e-4, poly 0.9; discriminator Adam lr 1e-4, betas (0.9, 0.99);
lambda_adv 0.001; BCE with logits. BatchNorm layers keep their running statistics
(eval mode): batches of a few tiles would make them noise.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import imagery
from .train import augment, poly_lr, segmentation_loss, TrainConfig
from .ugsnet import PatchDiscriminator

SOURCE_LABEL, TARGET_LABEL = 0.0, 1.0


class AdaptationError(ValueError):
    """Adaptation cannot run as asked; the message says why."""


class AdaptationCancelled(Exception):
    """Stopped on request; nothing was written."""


@dataclass
class AdaptConfig:
    iterations: int = 200
    batch_size: int = 2
    tile: int = 256
    lr_generator: float = 2.5e-4
    lr_discriminator: float = 1e-4
    lambda_adv: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    seed: int = 0


def sample_target_tiles(src, region, count: int, tile: int, rng, bands=(1, 2, 3),
                        low=(0.0,) * 3, high=(255.0,) * 3, min_inside: float = 0.8,
                        max_tries: int = 50):
    """``count`` tiles (float32 (3, tile, tile), 0..1) read at random inside
    ``region`` (a core BoundaryMask in the raster's CRS), each at least
    ``min_inside`` inside it and free of nodata."""
    from rasterio.windows import Window, from_bounds
    if src.width < tile or src.height < tile:
        raise AdaptationError(f"the raster ({src.width}x{src.height}) is smaller than "
                              f"one {tile} px tile")
    box = from_bounds(*region.bounds(), transform=src.transform)
    col0 = int(np.clip(np.floor(box.col_off), 0, src.width - tile))
    row0 = int(np.clip(np.floor(box.row_off), 0, src.height - tile))
    col1 = int(np.clip(np.ceil(box.col_off + box.width) - tile, col0, src.width - tile))
    row1 = int(np.clip(np.ceil(box.row_off + box.height) - tile, row0, src.height - tile))
    tiles = []
    for _ in range(count * max_tries):
        if len(tiles) == count:
            break
        window = Window(int(rng.integers(col0, col1 + 1)), int(rng.integers(row0, row1 + 1)),
                        tile, tile)
        inside = region(window, src.window_transform(window))
        if inside.mean() < min_inside:
            continue
        data = src.read(list(bands), window=window)
        if not imagery.valid_mask(data, src.nodata).all():
            continue
        tiles.append(imagery.to_unit(data, low, high))
    if len(tiles) < count:
        raise AdaptationError(
            f"only {len(tiles)} of {count} tiles of {tile} px fit inside the region "
            "with no nodata; draw a larger region or use a smaller tile size")
    return tiles


def _freeze_batchnorm(model):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def _softmax_map(output, size):
    coarse = F.interpolate(output["coarse"], size=size, mode="bilinear",
                           align_corners=True)
    return torch.softmax(coarse, dim=1)


def adapt_model(model, source_samples, target_tiles, cfg: AdaptConfig = AdaptConfig(),
                progress=None, is_canceled=None, log=print):
    """Adapt ``model`` in place; returns the loss history and the discriminator.

    ``source_samples``: train.Sample-like objects (image uint8, mask); ``target_tiles``:
    float arrays (3, tile, tile) in 0..1 from the target region.
    """
    if not source_samples or not target_tiles:
        raise AdaptationError("adaptation needs labelled source tiles and target tiles")
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    disc = PatchDiscriminator().to(device)
    opt_g = torch.optim.SGD(model.parameters(), lr=cfg.lr_generator,
                            momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_discriminator,
                             betas=(0.9, 0.99))
    source_cfg = TrainConfig(crop=cfg.tile, scale_range=(1.0, 1.0), colour_jitter=False)
    history = {"seg": [], "adv": [], "disc": []}
    model.train()
    _freeze_batchnorm(model)
    disc.train()
    t0 = time.time()
    for it in range(cfg.iterations):
        if is_canceled and is_canceled():
            raise AdaptationCancelled(f"cancelled at iteration {it}")
        for group in opt_g.param_groups:
            group["lr"] = poly_lr(cfg.lr_generator, it, cfg.iterations, cfg.poly_power)
        for group in opt_d.param_groups:
            group["lr"] = poly_lr(cfg.lr_discriminator, it, cfg.iterations,
                                  cfg.poly_power)
        picks = rng.integers(0, len(source_samples), cfg.batch_size)
        batch = [augment(source_samples[i].image, source_samples[i].mask, source_cfg,
                         rng) for i in picks]
        xs = imagery.to_model_input(torch.stack([b[0] for b in batch])).to(device)
        ys = torch.stack([b[1] for b in batch]).to(device)
        target = np.stack([target_tiles[i] for i in
                           rng.integers(0, len(target_tiles), cfg.batch_size)])
        flips = rng.integers(0, 2, 2)
        xt = torch.from_numpy(target).float()
        if flips[0]:
            xt = xt.flip(3)
        if flips[1]:
            xt = xt.flip(2)
        xt = imagery.to_model_input(xt).to(device)
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
        (seg + cfg.lambda_adv * adv).backward()
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
        if progress:
            progress(it + 1, cfg.iterations, history)
    model.eval()
    log(f"adapted in {cfg.iterations} iterations ({time.time() - t0:.0f} s)")
    return {"history": history, "discriminator": disc, "seconds": time.time() - t0}
