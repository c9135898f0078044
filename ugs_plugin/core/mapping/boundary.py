"""Masking rasters by polygons (e.g. Global Urban Boundaries), window by window."""
from __future__ import annotations

import numpy as np
from rasterio.features import geometry_mask
from rasterio.windows import Window, bounds as window_bounds
from shapely.geometry import box

from ..errors import Cancelled, UgsError
from ..feedback import Feedback, SILENT


class BoundaryError(UgsError):
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


def buffer_geometries(geometries, metres: float, crs=None):
    """Buffer polygons by ``metres`` in the raster's CRS; for geographic CRSs the
    distance is converted to degrees at the polygons' mean latitude (approximate)."""
    if not metres:
        return list(geometries)
    distance = metres
    if crs is not None and crs.is_geographic:
        lat = np.mean([g.centroid.y for g in geometries])
        distance = metres / (111320.0 * max(0.1, np.cos(np.deg2rad(lat))))
    elif crs is not None:
        try:
            distance = metres / crs.linear_units_factor[1]
        except Exception:  # unknown linear unit: take map units as metres
            pass
    return [g.buffer(distance) for g in geometries]


def mask_raster(src_path, dst_path, boundary: BoundaryMask, block: int = 1024, *,
                feedback: Feedback = SILENT) -> dict:
    """Copy ``src_path`` with pixels outside ``boundary`` set to nodata.

    Keeps data type, bands, grid and the nodata value. A raster without a nodata
    value gets an internal mask instead, so no real value is sacrificed. Written to a
    temporary file and renamed when complete.
    """
    import rasterio
    from rasterio.windows import Window

    from ..outputs import atomic_output
    from .tiling import block_windows

    with rasterio.open(src_path) as src:
        if not boundary.intersects(*src.bounds):
            raise BoundaryError("the boundary does not overlap the raster; check that "
                                "both cover the same place")
        profile = src.profile.copy()
        for key in ("photometric", "compress", "jpeg_quality", "blockxsize",
                    "blockysize", "interleave"):
            profile.pop(key, None)
        profile.update(driver="GTiff", tiled=True, blockxsize=256, blockysize=256,
                       compress="deflate", BIGTIFF="IF_SAFER")
        use_mask = src.nodata is None
        windows = [Window(*b) for b in block_windows(src.width, src.height, block)]
        inside_total = 0
        with atomic_output(dst_path, ".part.tif") as tmp:
            with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
                with rasterio.open(tmp, "w", **profile) as dst:
                    dst.colorinterp = src.colorinterp
                    for i, window in enumerate(windows):
                        if feedback.is_cancelled():
                            raise Cancelled("cancelled: nothing was written")
                        data = src.read(window=window)
                        inside = boundary(window, src.window_transform(window))
                        inside_total += int(inside.sum())
                        if use_mask:
                            dst.write(data, window=window)
                            valid = src.dataset_mask(window=window) > 0
                            dst.write_mask(((inside & valid) * 255).astype("uint8"),
                                           window=window)
                        else:
                            data[:, ~inside] = src.nodata
                            dst.write(data, window=window)
                        feedback.progress(100.0 * (i + 1) / len(windows))
        return {"pixels": src.width * src.height, "inside_pixels": inside_total,
                "nodata": src.nodata, "internal_mask": use_mask}


def polygon_mask(layer, crs, bounds, what: str = "urban boundary",
                 all_touched: bool = False, buffer_m: float = 0.0):
    """A BoundaryMask of ``layer``'s polygons (a VectorLayer) in ``crs``, checked to
    overlap ``bounds`` (left, bottom, right, top)."""
    layer.require_features(what)
    if crs is None:
        raise UgsError(f"the raster has no CRS, so the {what} cannot be placed on it; "
                       "assign the raster's CRS first")
    geoms = [g for g, _ in layer.in_crs(crs)]
    if buffer_m:
        geoms = buffer_geometries(geoms, buffer_m, crs)
    try:
        mask = BoundaryMask(geoms, all_touched)
    except UgsError as err:
        raise UgsError(f"{what}: {err}") from None
    if not mask.intersects(*bounds):
        raise UgsError(f"the {what} '{layer.name}' does not overlap the raster; check "
                       "that both cover the same place")
    return mask
