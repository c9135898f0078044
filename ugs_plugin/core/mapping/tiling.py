"""The tile grid over a raster and the weights that blend overlapping tiles."""
from __future__ import annotations

import numpy as np


def tile_origins(length: int, tile: int, overlap: int) -> list:
    """Start offsets of tiles of ``tile`` px along an axis of ``length`` px.

    Tiles step by ``tile - overlap``; the last one is pulled back to end exactly at
    the raster edge, so no tile reads outside the raster. A raster shorter than a
    tile gets one tile (of the raster's length).
    """
    if tile <= overlap:
        raise ValueError(f"tile size {tile} must be larger than the overlap {overlap}")
    if length <= tile:
        return [0]
    step = tile - overlap
    origins = list(range(0, length - tile, step))
    origins.append(length - tile)
    return origins


def ramp(length: int, margin: int) -> np.ndarray:
    """1-D weights: raised cosine over ``margin`` px at each end, 1 in between.

    Never exactly 0, so a pixel covered by a single tile (raster edges) keeps a weight.
    """
    d = np.minimum(np.arange(length), np.arange(length)[::-1]).astype(np.float64)
    w = np.ones(length)
    if margin > 0:
        edge = d < margin
        w[edge] = 0.5 - 0.5 * np.cos(np.pi * (d[edge] + 0.5) / margin)
    return w.astype(np.float32)


def blend_weights(height: int, width: int, margin: int) -> np.ndarray:
    """2-D separable blend window for one tile."""
    return np.outer(ramp(height, margin), ramp(width, margin))


def bands_of_columns(width: int, band_width: int, block: int) -> list:
    """Split ``width`` columns into [start, stop) bands of at most ``band_width``,
    cut at multiples of ``block`` so written windows stay block-aligned."""
    band_width = max(block, band_width - band_width % block)
    return [(x, min(width, x + band_width)) for x in range(0, width, band_width)]


def block_windows(width: int, height: int, block: int):
    """Row-major (col, row, w, h) blocks of at most ``block`` px covering a raster."""
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield col, row, min(block, width - col), min(block, height - row)
