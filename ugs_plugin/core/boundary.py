"""Masking rasters by polygons (e.g. Global Urban Boundaries), window by window."""
from __future__ import annotations

import numpy as np
from rasterio.features import geometry_mask
from rasterio.windows import Window, bounds as window_bounds
from shapely.geometry import box
from shapely.strtree import STRtree


class BoundaryError(ValueError):
    """The boundary cannot be used; the message says why."""


class BoundaryMask:
    """Callable ``(window, transform) -> bool array``: True inside the polygons.

    Geometries must already be in the raster's CRS. Only polygons that touch a
    window are burnt into it, so many polygons and large rasters stay cheap.
    """

    def __init__(self, geometries, all_touched: bool = False):
        self.geometries = [g for g in geometries
                           if g is not None and not g.is_empty
                           and g.geom_type in ("Polygon", "MultiPolygon")]
        if not self.geometries:
            raise BoundaryError("the boundary layer has no polygons")
        self.tree = STRtree(self.geometries)
        self.all_touched = all_touched

    def bounds(self):
        xs = [g.bounds for g in self.geometries]
        return (min(b[0] for b in xs), min(b[1] for b in xs),
                max(b[2] for b in xs), max(b[3] for b in xs))

    def intersects(self, left, bottom, right, top) -> bool:
        return len(self.tree.query(box(left, bottom, right, top),
                                   predicate="intersects")) > 0

    def __call__(self, window, transform) -> np.ndarray:
        shape = (int(window.height), int(window.width))
        left, bottom, right, top = window_bounds(Window(0, 0, shape[1], shape[0]),
                                                 transform)
        hits = self.tree.query(box(min(left, right), min(bottom, top),
                                   max(left, right), max(bottom, top)))
        if len(hits) == 0:
            return np.zeros(shape, dtype=bool)
        geoms = [self.geometries[i] for i in hits]
        return geometry_mask(geoms, out_shape=shape, transform=transform, invert=True,
                             all_touched=self.all_touched)
