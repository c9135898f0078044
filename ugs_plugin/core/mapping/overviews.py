"""Overviews of the maps, computed while the map is written.

GDAL's own overviews read the finished map back, one thread, after the model is
done: 0.5 s of a 6 s run on a 4096² raster (mode resampling). Here each written
window adds its share to every level as it goes (block sums, composed level to level),
and the levels are written into the GeoTIFF's overview directories at the end.

Every level is computed from the full-resolution map, not from the level above:
- class maps: the majority class of a block's valid pixels; a tie goes to green
  where the block's top-left pixel is green (an unbiased pick); no valid pixel: nodata.
- percent rasters: the mean of the valid values, rounded.

Needs GDAL's Python bindings (present wherever QGIS is) on the same GDAL as rasterio,
and levels that fit in ``MAX_LEVEL_BYTES``; otherwise GDAL builds them as before.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..config import GREEN, NODATA, OTHER

# The maps' GeoTIFF block: windows are written at multiples of it (predict.py).
BLOCK = 256
# A map's levels together take a third of its pixels in bytes: 256 MB holds those of
# a ~770 MP map (the method's frames are ~100 MP).
MAX_LEVEL_BYTES = 256 * 2 ** 20


def overview_factors(height: int, width: int) -> list:
    """Factors 2, 4, ... down to a level about one block across."""
    factors, f = [], 2
    while max(height, width) / f >= BLOCK:
        factors.append(f)
        f *= 2
    return factors


def _gdal():
    """GDAL's bindings when they run on rasterio's GDAL, else None."""
    try:
        from osgeo import gdal
        import rasterio
    except ImportError:
        return None
    same = gdal.__version__.split(".")[:2] == rasterio.__gdal_version__.split(".")[:2]
    return gdal if same else None


def _pairs(a: np.ndarray) -> np.ndarray:
    """Sums of 2x2 blocks (an odd last row or column summed alone)."""
    if a.shape[0] % 2 or a.shape[1] % 2:
        a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2)))
    return a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]


class Levels:
    """The overview levels of one map, filled window by window with ``add`` and
    written with ``write``. ``kind``: "class" or "percent"."""

    def __init__(self, height: int, width: int, kind: str):
        self.kind = kind
        self.factors = overview_factors(height, width)
        # Windows start at multiples of BLOCK, so levels up to BLOCK fill window by
        # window; coarser ones are composed at the end from the BLOCK level's sums.
        self.direct = [f for f in self.factors if f <= BLOCK]
        self.arrays = {f: np.full((-(-height // f), -(-width // f)), NODATA, np.uint8)
                       for f in self.factors}
        shape = self.arrays[self.direct[-1]].shape if self.factors else (0, 0)
        self.block_sums = np.zeros(shape, np.int64)
        self.block_counts = np.zeros(shape, np.int64)
        self.block_corners = np.full(shape, NODATA, np.uint8)

    @staticmethod
    def fit(height: int, width: int, maps: int = 1) -> bool:
        """The levels of ``maps`` maps of this size fit, and GDAL can write them."""
        return maps * height * width // 3 <= MAX_LEVEL_BYTES and _gdal() is not None

    def add(self, values: np.ndarray, valid: np.ndarray, row: int, col: int):
        """Add the window of ``values`` (uint8) at (row, col) of the map; both
        multiples of BLOCK."""
        if not self.factors:
            return
        # The first level in small integers (a quarter of the time), then int32.
        sums = (values == GREEN) if self.kind == "class" else np.where(valid, values, 0)
        sums = _pairs(sums.astype(np.uint16)).astype(np.int32)
        counts = _pairs(valid.view(np.uint8)).astype(np.int32)
        for f in self.direct:
            if f > 2:
                sums, counts = _pairs(sums), _pairs(counts)
            corners = values[::f, ::f]
            self._place(self.arrays[f], self._level(sums, counts, corners),
                        row // f, col // f)
        for kept, part in ((self.block_sums, sums), (self.block_counts, counts),
                           (self.block_corners, corners)):
            self._place(kept, part, row // f, col // f)

    def _level(self, sums, counts, corners):
        if self.kind == "class":
            # The majority; a tie goes to green where the top-left pixel is green.
            out = np.where(2 * sums + (corners == GREEN) > counts, GREEN,
                           OTHER).astype(np.uint8)
        else:
            out = np.rint(sums / np.maximum(counts, 1)).astype(np.uint8)
        out[counts == 0] = NODATA
        return out

    @staticmethod
    def _place(target, part, row, col):
        h = min(part.shape[0], target.shape[0] - row)
        w = min(part.shape[1], target.shape[1] - col)
        target[row:row + h, col:col + w] = part[:h, :w]

    def _compose_coarser(self):
        sums, counts, corners = self.block_sums, self.block_counts, self.block_corners
        for f in self.factors[len(self.direct):]:
            sums, counts, corners = _pairs(sums), _pairs(counts), corners[::2, ::2]
            self._place(self.arrays[f], self._level(sums, counts, corners), 0, 0)

    def write(self, path) -> None:
        """Write the levels as the internal overviews of the GeoTIFF at ``path``;
        OSError if GDAL cannot."""
        if not self.factors:
            return
        self._compose_coarser()
        gdal = _gdal()
        # Exceptions for this call only where GDAL offers it (3.7+); return codes
        # otherwise. Either way the process-wide setting QGIS relies on is kept.
        scope = getattr(gdal, "ExceptionMgr", None)
        with scope(useExceptions=True) if scope else contextlib.nullcontext():
            try:
                self._write(gdal, str(path))
            except RuntimeError as err:
                raise OSError(f"GDAL cannot add the overviews of {path}: {err}") \
                    from None

    def _write(self, gdal, path):
        dataset = gdal.Open(path, gdal.GA_Update)
        if dataset is None:
            raise OSError(f"GDAL cannot open {path} to add its overviews: "
                          f"{gdal.GetLastErrorMsg()}")
        if dataset.BuildOverviews("NONE", self.factors) != 0:
            raise OSError(f"GDAL cannot add overviews to {path}: "
                          f"{gdal.GetLastErrorMsg()}")
        band = dataset.GetRasterBand(1)
        for i, f in enumerate(self.factors):
            level = band.GetOverview(i)
            if (level.YSize, level.XSize) != self.arrays[f].shape:
                raise OSError(f"overview {i} of {path} is {level.XSize}x{level.YSize}, "
                              f"not {self.arrays[f].shape[1]}x{self.arrays[f].shape[0]}")
            if level.WriteArray(self.arrays[f]) != 0:
                raise OSError(f"GDAL cannot write overview {i} of {path}: "
                              f"{gdal.GetLastErrorMsg()}")
        # Leaving drops the last references, which closes the file and writes it.
