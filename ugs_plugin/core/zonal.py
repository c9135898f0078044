"""Green-space statistics per zone, read window by window.

Per zone: mapped area, green area, coverage ratio, green patches (8-connected, as
FRAGSTATS counts them), mean and largest patch area, and green area per inhabitant.
Each zone's bounding box is read in strips of rows; patches are labelled per strip
(GDAL's polygonize, then burnt back as labels) and joined across strip borders with
a union-find, so no zone is ever held in memory whole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import Cancelled

GREEN, NODATA = 1, 255


@dataclass
class ZoneStats:
    mapped_area: float
    green_area: float
    coverage: float | None
    patches: int
    mean_patch_area: float | None
    largest_patch_area: float | None
    green_per_person: float | None = None


class _UnionFind:
    def __init__(self):
        self.parent = []

    def add(self, n):
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return start

    def find(self, a):
        root = a
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[a] != root:
            self.parent[a], a = root, self.parent[a]
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _regions(green: np.ndarray, transform):
    """8-connected green regions of one strip, as polygons in map coordinates, in a
    fixed order (the same strip gives the same list)."""
    from rasterio.features import shapes
    return [g for g, _ in shapes(green.astype(np.uint8), mask=green, connectivity=8,
                                 transform=transform)]


def _label(green: np.ndarray, transform):
    """Labels 1..n of 8-connected green regions, and the regions."""
    from rasterio.features import rasterize
    regions = _regions(green, transform)
    if not regions:
        return np.zeros(green.shape, np.int32), regions
    labels = rasterize(((g, i + 1) for i, g in enumerate(regions)), out_shape=green.shape,
                       transform=transform, fill=0, dtype="int32")
    return labels * green, regions


class StripPatches:
    """8-connected patches of a mask fed strip by strip (top to bottom): each strip's
    regions are labelled (GDAL's polygonize, burnt back) and joined to the strip above
    with a union-find, so the whole mask is never held in memory."""

    def __init__(self):
        self._uf = _UnionFind()
        self._pixels = []        # per region
        self._previous = None    # (labels of the last row, first region id) above
        self.strip_offsets = []  # first region id of each strip

    def add(self, mask: np.ndarray, transform):
        """Label one strip; returns its regions (polygons) and the id of the first."""
        labels, regions = _label(mask, transform)
        offset = self._uf.add(len(regions))
        self.strip_offsets.append(offset)
        self._pixels.extend(np.bincount(labels.ravel(),
                                        minlength=len(regions) + 1)[1:].tolist())
        if self._previous is not None and regions:
            above, above_offset = self._previous
            below = labels[0]
            for shift in (-1, 0, 1):  # 8-connectivity across the strip border
                a = above[max(0, shift):len(above) + min(0, shift)]
                b = below[max(0, -shift):len(below) + min(0, -shift)]
                both = (a > 0) & (b > 0)
                for la, lb in set(zip(a[both].tolist(), b[both].tolist())):
                    self._uf.union(above_offset + la - 1, offset + lb - 1)
        self._previous = (labels[-1], offset)
        return regions, offset

    @property
    def regions(self) -> int:
        return len(self._pixels)

    def patch_of(self, region_id: int) -> int:
        return self._uf.find(region_id)

    def patch_pixels(self) -> dict:
        """{patch id: pixels} over everything added."""
        sizes = {}
        for i, n in enumerate(self._pixels):
            root = self._uf.find(i)
            sizes[root] = sizes.get(root, 0) + n
        return {k: v for k, v in sizes.items() if v > 0}


def zone_window(src, geometry):
    """(col0, row0, col1, row1) of the raster covering ``geometry``'s bounds."""
    from rasterio.windows import from_bounds
    window = from_bounds(*geometry.bounds, transform=src.transform)
    return (max(0, int(np.floor(window.col_off))), max(0, int(np.floor(window.row_off))),
            min(src.width, int(np.ceil(window.col_off + window.width))),
            min(src.height, int(np.ceil(window.row_off + window.height))))


def zone_strips(src, geometry, strip_rows: int = 1024, is_cancelled=None):
    """(data, inside mask, transform) of the strips of rows covering ``geometry``;
    ``is_cancelled`` is asked before each strip."""
    from rasterio.features import geometry_mask
    from rasterio.windows import Window
    col0, row0, col1, row1 = zone_window(src, geometry)
    if col1 <= col0:
        return
    for top in range(row0, row1, strip_rows):
        if is_cancelled and is_cancelled():
            raise Cancelled("cancelled: no zone figures were written")
        win = Window(col0, top, col1 - col0, min(strip_rows, row1 - top))
        data = src.read(1, window=win)
        transform = src.window_transform(win)
        inside = geometry_mask([geometry], out_shape=data.shape, transform=transform,
                               invert=True)
        yield data, inside, transform


def zone_statistics(src, zone_geometry, population=None, strip_rows: int = 1024,
                    is_cancelled=None):
    """Statistics of one zone (a shapely geometry in the raster's CRS) over an open
    rasterio class raster ``src``."""
    pixel_area = abs(src.transform.a * src.transform.e)
    mapped = green_px = 0
    patches = StripPatches()
    for data, inside, transform in zone_strips(src, zone_geometry, strip_rows,
                                               is_cancelled):
        green = inside & (data == GREEN)
        mapped += int((inside & (data != NODATA)).sum())
        green_px += int(green.sum())
        patches.add(green, transform)
    sizes = [n * pixel_area for n in patches.patch_pixels().values()]
    green_area = green_px * pixel_area
    return ZoneStats(
        mapped_area=mapped * pixel_area, green_area=green_area,
        coverage=green_px / mapped if mapped else None, patches=len(sizes),
        mean_patch_area=float(np.mean(sizes)) if sizes else None,
        largest_patch_area=float(max(sizes)) if sizes else None,
        green_per_person=(green_area / population if population else None))
