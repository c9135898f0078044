"""Checks and bridges shared by the use cases."""
from __future__ import annotations

import csv
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


def write_text(path, text=None, writer=None):
    """Write ``text`` (or what ``writer(f)`` writes) beside ``path``, then rename:
    never a half-written report or table."""
    from ..outputs import atomic_output
    with atomic_output(path, os.path.splitext(path)[1] or ".txt") as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if writer:
                writer(f)
            else:
                f.write(text)


def write_table(path, names, rows):
    """Dict ``rows`` as CSV with the columns ``names`` (None as an empty cell)."""
    def rows_out(f):
        out = csv.writer(f)
        out.writerow(names)
        for row in rows:
            out.writerow(["" if row[k] is None else row[k] for k in names])
    write_text(path, writer=rows_out)
