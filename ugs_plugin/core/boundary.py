"""Masking rasters by polygons (e.g. Global Urban Boundaries), window by window."""
from __future__ import annotations

import numpy as np
from rasterio.features import geometry_mask
from rasterio.windows import Window, bounds as window_bounds
from shapely.geometry import box


class BoundaryError(ValueError):
    """The boundary cannot be used; the message says why."""


class BoundaryMask:
    """Callable ``(window, transform) -> bool array``: True inside the polygons.

    Geometries must already be in the raster's CRS. Only polygons whose bounding
    box touches a window are burnt into it, so many polygons and large rasters stay
    cheap. (A numpy box test rather than STRtree: its API differs between shapely
    1.8, which Debian ships, and 2.x.)
    """

    def __init__(self, geometries, all_touched: bool = False):
        self.geometries = [g for g in geometries
                           if g is not None and not g.is_empty
                           and g.geom_type in ("Polygon", "MultiPolygon")]
        if not self.geometries:
            raise BoundaryError("the boundary layer has no polygons")
        self.boxes = np.array([g.bounds for g in self.geometries], dtype=np.float64)
        self.all_touched = all_touched

    def bounds(self):
        return (*self.boxes[:, :2].min(axis=0), *self.boxes[:, 2:].max(axis=0))

    def candidates(self, left, bottom, right, top) -> list:
        """Indexes of polygons whose bounding box overlaps the rectangle."""
        b = self.boxes
        hit = (b[:, 0] <= right) & (b[:, 2] >= left) & (b[:, 1] <= top) & (b[:, 3] >= bottom)
        return np.flatnonzero(hit).tolist()

    def intersects(self, left, bottom, right, top) -> bool:
        area = box(left, bottom, right, top)
        return any(self.geometries[i].intersects(area)
                   for i in self.candidates(left, bottom, right, top))

    def __call__(self, window, transform) -> np.ndarray:
        shape = (int(window.height), int(window.width))
        left, bottom, right, top = window_bounds(Window(0, 0, shape[1], shape[0]),
                                                 transform)
        hits = self.candidates(min(left, right), min(bottom, top),
                               max(left, right), max(bottom, top))
        if not hits:
            return np.zeros(shape, dtype=bool)
        geoms = [self.geometries[i] for i in hits]
        return geometry_mask(geoms, out_shape=shape, transform=transform, invert=True,
                             all_touched=self.all_touched)
