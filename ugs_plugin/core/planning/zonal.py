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

from ..config import GREEN, NODATA
from ..errors import Cancelled
from ..feedback import Feedback, SILENT

# Pixels read and polygonized at once: wide rasters get thinner strips, so memory is
# bounded by this, not by the raster's width.
STRIP_PIXELS = 8_000_000


def rows_per_strip(width: int, max_rows: int) -> int:
    return max(1, min(max_rows, STRIP_PIXELS // max(1, width)))


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


def strip_regions(green: np.ndarray, transform):
    """8-connected green regions of one strip, as polygons in map coordinates, in a
    fixed order (the same strip gives the same list)."""
    from rasterio.features import shapes
    return [g for g, _ in shapes(green.astype(np.uint8), mask=green, connectivity=8,
                                 transform=transform)]


def _label(green: np.ndarray, transform):
    """Labels 1..n of 8-connected green regions, and the regions."""
    from rasterio.features import rasterize
    regions = strip_regions(green, transform)
    if not regions:
        return np.zeros(green.shape, np.int32), regions
    labels = rasterize(((g, i + 1) for i, g in enumerate(regions)), out_shape=green.shape,
                       transform=transform, fill=0, dtype="int32")
    return labels * green, regions


class StripPatches:
    """8-connected patches of a mask fed strip by strip (top to bottom): each strip's
    regions are labelled (GDAL's polygonize, burnt back). A region touching neither
    the strip's first nor its last row is complete there, and only its size is
    counted; regions on a strip border join a union-find with the strip above. So
    memory grows with the regions on strip borders, not with every patch."""

    def __init__(self):
        self._uf = _UnionFind()
        self._pixels = []        # per border region, by union-find id
        self._previous = None    # (labels of the last row, union-find ids) above
        self._inner = [0, 0, 0]  # complete regions: count, pixels, largest

    def add(self, mask: np.ndarray, transform):
        """Label one strip. Returns its regions (polygons), their union-find ids (None
        for a region complete within the strip) and their pixel counts."""
        labels, regions = _label(mask, transform)
        n = len(regions)
        pixels = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        on_border = np.zeros(n + 1, bool)
        on_border[labels[0]] = True
        on_border[labels[-1]] = True
        on_border = on_border[1:]
        ids = [None] * n
        for j in np.nonzero(on_border)[0].tolist():
            ids[j] = self._uf.add(1)
            self._pixels.append(int(pixels[j]))
        inner = pixels[~on_border]
        inner = inner[inner > 0]
        if len(inner):
            self._inner[0] += len(inner)
            self._inner[1] += int(inner.sum())
            self._inner[2] = max(self._inner[2], int(inner.max()))
        if self._previous is not None and n:
            above, above_ids = self._previous
            below = labels[0]
            for shift in (-1, 0, 1):  # 8-connectivity across the strip border
                a = above[max(0, shift):len(above) + min(0, shift)]
                b = below[max(0, -shift):len(below) + min(0, -shift)]
                both = (a > 0) & (b > 0)
                for la, lb in set(zip(a[both].tolist(), b[both].tolist())):
                    self._uf.union(above_ids[la - 1], ids[lb - 1])
        self._previous = (labels[-1], ids)
        return regions, ids, pixels

    def patch_of(self, region_id: int) -> int:
        return self._uf.find(region_id)

    def border_patches(self) -> dict:
        """{patch id: pixels} of the patches that cross or touch a strip border."""
        sizes = {}
        for i, n in enumerate(self._pixels):
            root = self._uf.find(i)
            sizes[root] = sizes.get(root, 0) + n
        return {k: v for k, v in sizes.items() if v > 0}

    def summary(self):
        """(patches, pixels in patches, largest patch in pixels) over all added."""
        border = self.border_patches().values()
        count, total, largest = self._inner
        return (count + len(border), total + sum(border),
                max([largest, *border]) if count or border else 0)


def zone_window(src, geometry):
    """(col0, row0, col1, row1) of the raster covering ``geometry``'s bounds."""
    from rasterio.windows import from_bounds
    window = from_bounds(*geometry.bounds, transform=src.transform)
    return (max(0, int(np.floor(window.col_off))), max(0, int(np.floor(window.row_off))),
            min(src.width, int(np.ceil(window.col_off + window.width))),
            min(src.height, int(np.ceil(window.row_off + window.height))))


def zone_strips(src, geometry, strip_rows: int = 1024, *, feedback: Feedback = SILENT):
    """(data, inside mask, transform) of the strips of rows covering ``geometry``;
    cancellation is checked before each strip."""
    from rasterio.features import geometry_mask
    from rasterio.windows import Window
    col0, row0, col1, row1 = zone_window(src, geometry)
    if col1 <= col0:
        return
    strip_rows = rows_per_strip(col1 - col0, strip_rows)
    for top in range(row0, row1, strip_rows):
        if feedback.is_cancelled():
            raise Cancelled("cancelled: no zone figures were written")
        win = Window(col0, top, col1 - col0, min(strip_rows, row1 - top))
        data = src.read(1, window=win)
        transform = src.window_transform(win)
        inside = geometry_mask([geometry], out_shape=data.shape, transform=transform,
                               invert=True)
        yield data, inside, transform


def zone_statistics(src, zone_geometry, population=None, strip_rows: int = 1024, *,
                    feedback: Feedback = SILENT):
    """Statistics of one zone (a shapely geometry in the raster's CRS) over an open
    rasterio class raster ``src``."""
    pixel_area = abs(src.transform.a * src.transform.e)
    mapped = green_px = 0
    patches = StripPatches()
    for data, inside, transform in zone_strips(src, zone_geometry, strip_rows,
                                               feedback=feedback):
        green = inside & (data == GREEN)
        mapped += int((inside & (data != NODATA)).sum())
        green_px += int(green.sum())
        patches.add(green, transform)
    count, total, largest = patches.summary()
    green_area = green_px * pixel_area
    return ZoneStats(
        mapped_area=mapped * pixel_area, green_area=green_area,
        coverage=green_px / mapped if mapped else None, patches=count,
        mean_patch_area=total * pixel_area / count if count else None,
        largest_patch_area=float(largest * pixel_area) if count else None,
        green_per_person=(green_area / population if population else None))
