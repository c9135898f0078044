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


def _label(green: np.ndarray, transform):
    """Labels 1..n of 8-connected green regions, and n."""
    from rasterio.features import rasterize, shapes
    regions = [g for g, _ in shapes(green.astype(np.uint8), mask=green, connectivity=8,
                                    transform=transform)]
    if not regions:
        return np.zeros(green.shape, np.int32), 0
    labels = rasterize(((g, i + 1) for i, g in enumerate(regions)), out_shape=green.shape,
                       transform=transform, fill=0, dtype="int32")
    return labels * green, len(regions)


def zone_statistics(src, zone_geometry, population=None, strip_rows: int = 1024):
    """Statistics of one zone (a shapely geometry in the raster's CRS) over an open
    rasterio class raster ``src``."""
    from rasterio.features import geometry_mask
    from rasterio.windows import Window, from_bounds

    pixel_area = abs(src.transform.a * src.transform.e)
    window = from_bounds(*zone_geometry.bounds, transform=src.transform)
    col0 = max(0, int(np.floor(window.col_off)))
    row0 = max(0, int(np.floor(window.row_off)))
    col1 = min(src.width, int(np.ceil(window.col_off + window.width)))
    row1 = min(src.height, int(np.ceil(window.row_off + window.height)))
    mapped = green_px = 0
    uf = _UnionFind()
    areas = []
    previous = None  # (labels of the last row, label offset) of the strip above
    for top in range(row0, max(row0, row1), strip_rows):
        win = Window(col0, top, col1 - col0, min(strip_rows, row1 - top))
        if win.width <= 0 or win.height <= 0:
            break
        data = src.read(1, window=win)
        transform = src.window_transform(win)
        inside = geometry_mask([zone_geometry], out_shape=data.shape, transform=transform,
                               invert=True)
        valid = inside & (data != NODATA)
        green = inside & (data == GREEN)
        mapped += int(valid.sum())
        green_px += int(green.sum())
        labels, n = _label(green, transform)
        offset = uf.add(n)
        areas.extend(np.bincount(labels.ravel(), minlength=n + 1)[1:].tolist())
        if previous is not None and n:
            above, above_offset = previous
            below = labels[0]
            for shift in (-1, 0, 1):  # 8-connectivity across the strip border
                a = above[max(0, shift):len(above) + min(0, shift)]
                b = below[max(0, -shift):len(below) + min(0, -shift)]
                for la, lb in set(zip(a[(a > 0) & (b > 0)].tolist(),
                                      b[(a > 0) & (b > 0)].tolist())):
                    uf.union(above_offset + la - 1, offset + lb - 1)
        previous = (labels[-1], offset)
    patch_area = {}
    for i, a in enumerate(areas):
        root = uf.find(i)
        patch_area[root] = patch_area.get(root, 0) + a
    sizes = [a * pixel_area for a in patch_area.values() if a > 0]
    green_area = green_px * pixel_area
    return ZoneStats(
        mapped_area=mapped * pixel_area, green_area=green_area,
        coverage=green_px / mapped if mapped else None, patches=len(sizes),
        mean_patch_area=float(np.mean(sizes)) if sizes else None,
        largest_patch_area=float(max(sizes)) if sizes else None,
        green_per_person=(green_area / population if population else None))
