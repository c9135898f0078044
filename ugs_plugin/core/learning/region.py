"""A drawn region over a raster: random tiles inside it, its window copied or
mapped (the extraction over the region only)."""
from __future__ import annotations

import numpy as np
import rasterio

from ..mapping import imagery
from ..config import PredictOptions
from ..errors import UgsError
from ..feedback import Feedback, SILENT

NO_OVERVIEWS = PredictOptions(overviews=False)   # small window maps


class RegionError(UgsError):
    """The region cannot be used as given; the message says why."""


def sample_target_windows(src, region, count: int, tile: int, rng, read,
                          min_inside: float = 0.8, max_tries: int = 50) -> list:
    """``count`` (window, tile) pairs drawn at random inside ``region`` (a core
    BoundaryMask in the raster's CRS), each window at least ``min_inside`` inside it
    and free of nodata. ``read(window) -> (tile, valid bool array)`` reads each
    candidate once."""
    from rasterio.windows import Window, from_bounds
    if src.width < tile or src.height < tile:
        raise RegionError(f"the raster ({src.width}x{src.height}) is smaller than "
                              f"one {tile} px tile")
    box = from_bounds(*region.bounds(), transform=src.transform)
    col0 = int(np.clip(np.floor(box.col_off), 0, src.width - tile))
    row0 = int(np.clip(np.floor(box.row_off), 0, src.height - tile))
    col1 = int(np.clip(np.ceil(box.col_off + box.width) - tile, col0, src.width - tile))
    row1 = int(np.clip(np.ceil(box.row_off + box.height) - tile, row0, src.height - tile))
    picks = []
    for _ in range(count * max_tries):
        if len(picks) == count:
            break
        window = Window(int(rng.integers(col0, col1 + 1)), int(rng.integers(row0, row1 + 1)),
                        tile, tile)
        if region(window, src.window_transform(window)).mean() < min_inside:
            continue
        data, valid = read(window)
        if valid.all():
            picks.append((window, data))
    if len(picks) < count:
        raise RegionError(
            f"only {len(picks)} of {count} tiles of {tile} px fit inside the region "
            "with no nodata; draw a larger region or use a smaller tile size")
    return picks


def sample_target_tiles(src, region, count: int, tile: int, rng, bands=(1, 2, 3),
                        low=(0.0,) * 3, high=(255.0,) * 3, min_inside: float = 0.8):
    """``count`` tiles (float32 (3, tile, tile), 0..1) read at random inside
    ``region``, each at least ``min_inside`` inside it and free of nodata."""
    def read(window):
        data = src.read(list(bands), window=window)
        return imagery.to_unit(data, low, high), imagery.valid_mask(data, src.nodata)
    return [t for _, t in sample_target_windows(src, region, count, tile, rng, read,
                                                min_inside)]


def window_around(src, bounds, margin: int = 0):
    """The pixel window of ``src`` holding ``bounds`` (map units) plus ``margin`` px,
    clipped to the raster; None if they do not overlap."""
    from rasterio.windows import Window, from_bounds
    box = from_bounds(*bounds, transform=src.transform)
    col0 = max(0, int(np.floor(box.col_off)) - margin)
    row0 = max(0, int(np.floor(box.row_off)) - margin)
    col1 = min(src.width, int(np.ceil(box.col_off + box.width)) + margin)
    row1 = min(src.height, int(np.ceil(box.row_off + box.height)) + margin)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def copy_window(src, box, output, block: int = 1024):
    """Copy window ``box`` of ``src`` (all bands, colour interpretation and internal
    mask kept) to a GeoTIFF, block by block."""
    from rasterio.windows import Window
    profile = src.profile.copy()
    profile.update(driver="GTiff", width=int(box.width), height=int(box.height),
                   transform=src.window_transform(box), tiled=True, blockxsize=256,
                   blockysize=256, compress="deflate")
    profile.pop("photometric", None)
    internal_mask = any(rasterio.enums.MaskFlags.per_dataset in flags
                        for flags in src.mask_flag_enums)
    with rasterio.open(output, "w", **profile) as dst:
        dst.colorinterp = src.colorinterp  # keeps an alpha band recognisable
        for r in range(0, int(box.height), block):
            rows = min(block, int(box.height) - r)
            part = Window(box.col_off, box.row_off + r, box.width, rows)
            into = Window(0, r, box.width, rows)
            dst.write(src.read(window=part), window=into)
            if internal_mask:
                dst.write_mask(src.dataset_mask(window=part), window=into)


def clip_to_region(image_path, region, output, block: int = 1024):
    """Copy the region's bounding window of ``image_path`` (all bands) to a GeoTIFF,
    block by block."""
    with rasterio.open(image_path) as src:
        box = window_around(src, region.bounds())
        if box is None:
            raise RegionError("the region does not overlap the raster")
        copy_window(src, box, output, block)


def predict_window(image_path, window, output, model, card, *, options=None,
                   boundary=None, probability_path=None, feedback: Feedback = SILENT):
    """The extraction (same tiling and blending) of one window of the raster, through
    a temporary copy of that window. Returns predict_raster's summary."""
    from ..outputs import remove_quietly, temp_beside
    from ..mapping.predict import predict_raster
    clip = temp_beside(output, ".window.tif")
    try:
        with rasterio.open(image_path) as src:
            copy_window(src, window, clip)
        return predict_raster(clip, output, model, card, options=options,
                              boundary=boundary, probability_path=probability_path,
                              feedback=feedback)
    finally:
        remove_quietly(clip)


def predict_region(image_path, region, output, model, card, *, options=None,
                   feedback: Feedback = SILENT):
    """The extraction over the region only: the region's bounding window of the
    raster, pixels outside the region left as nodata. Returns predict_raster's
    summary."""
    with rasterio.open(image_path) as src:
        window = window_around(src, region.bounds())
    if window is None:
        raise RegionError("the region does not overlap the raster")
    return predict_window(image_path, window, output, model, card, options=options,
                          boundary=region, feedback=feedback)
