"""Checks and bridges shared by the use cases."""
from __future__ import annotations

import os

from ..errors import UgsError
from ..feedback import Feedback


def require_file(path, what: str = "input"):
    """``path`` as a string, checked to exist."""
    if not path:
        raise UgsError(f"no {what} given")
    if not os.path.exists(path):
        raise UgsError(f"the {what} {path} does not exist; check the path")
    return os.fspath(path)


def raster_frame(path):
    """(crs, bounds, (width, height)) of a raster, with a clear error if it is none."""
    import rasterio
    try:
        with rasterio.open(path) as src:
            return src.crs, tuple(src.bounds), (src.width, src.height)
    except rasterio.errors.RasterioIOError as err:
        raise UgsError(f"cannot open {path} as a raster ({err}); give a GeoTIFF or "
                       "another GDAL raster") from None


def per_step(feedback: Feedback):
    """progress(done, total) for the engine's loops."""
    return lambda done, total: feedback.progress(100.0 * done / max(1, total))
