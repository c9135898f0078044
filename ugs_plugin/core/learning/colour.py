"""Colour transfer between two domains of imagery: source tiles recoloured to a
target raster's colour statistics (used by adaptation and fine-tuning)."""
from __future__ import annotations

import numpy as np
import torch


class ColourTransfer:
    """Maps source colours onto the target's: a linear transfer of the mean and
    covariance in RGB (Monge-Kantorovich), then per-band quantile matching.

    Fitted once on pooled pixels of both domains, so every source tile gets the same
    mapping; it carries cross-band changes (hue, saturation, cast) and tone curves.
    """

    def __init__(self, source_pixels: np.ndarray, target_pixels: np.ndarray,
                 levels: int = 256):
        src = source_pixels.reshape(3, -1).T.astype(np.float64)
        tgt = target_pixels.reshape(3, -1).T.astype(np.float64)
        self.mean_s, self.mean_t = src.mean(0), tgt.mean(0)
        cov_s = np.cov(src, rowvar=False) + 1e-6 * np.eye(3)
        cov_t = np.cov(tgt, rowvar=False) + 1e-6 * np.eye(3)
        root_s, inv_root_s = _sqrtm(cov_s), np.linalg.inv(_sqrtm(cov_s))
        self.matrix = inv_root_s @ _sqrtm(root_s @ cov_t @ root_s) @ inv_root_s
        moved = np.clip((src - self.mean_s) @ self.matrix.T + self.mean_t, 0, 1)
        grid = np.linspace(0, 1, levels)
        quantiles = np.linspace(0, 1, 1001)
        self.grid = grid
        self.lut = np.stack([np.interp(np.interp(grid, np.quantile(moved[:, b], quantiles),
                                                 quantiles),
                                       quantiles, np.quantile(tgt[:, b], quantiles))
                             for b in range(3)])

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """(3,H,W) float 0..1 in the source's colours -> the target's colours."""
        x = image.double().reshape(3, -1)
        mean_s = torch.from_numpy(self.mean_s)[:, None]
        mean_t = torch.from_numpy(self.mean_t)[:, None]
        x = (torch.from_numpy(self.matrix) @ (x - mean_s) + mean_t).clamp(0, 1)
        index = (x * (len(self.grid) - 1)).round().long()
        x = torch.gather(torch.from_numpy(self.lut), 1, index)
        return x.reshape(image.shape).to(image.dtype)


def _sqrtm(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T


def blend(restyled, original, strength: float):
    """``strength`` of the way from ``original`` to ``restyled``."""
    return strength * restyled + (1.0 - strength) * original


def pooled_pixels(arrays, rng, per_tile=4096):
    """(3, N) pixels drawn at random from each (3, H, W) array, pooled."""
    picks = []
    for a in arrays:
        flat = a.reshape(3, -1)
        picks.append(flat[:, rng.integers(0, flat.shape[1], per_tile)])
    return np.concatenate(picks, axis=1)
