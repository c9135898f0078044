"""Checks and bridges shared by the use cases."""
from __future__ import annotations

import csv
import os

from ..errors import Cancelled, UgsError
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


def comparison_maps(image, maps: dict, models: dict, device, feedback: Feedback,
                    written: str, *, region=None, bounds=None, margin: int = 0,
                    options=None):
    """Map the same place with each model, for a side-by-side look: ``maps``
    {which: output path}, ``models`` {which: model file, None = the bundled one}.
    The place is ``region`` (a BoundaryMask; pixels outside are nodata) or the
    window of ``bounds`` plus ``margin`` pixels. ``written``: the model file the run
    already wrote, named if mapping is cancelled."""
    from ..learning.region import predict_region, predict_window, window_around
    from ..model.files import load_model
    for n, (which, path) in enumerate(maps.items()):
        model, card = load_model(models[which], device)
        feedback.info(f"Mapping with the {which} model…")
        part = feedback.part(100.0 * n / len(maps), 100.0 * (n + 1) / len(maps))
        try:
            if region is not None:
                predict_region(image, region, path, model, card, options=options,
                               feedback=part)
            else:
                import rasterio
                with rasterio.open(image) as src:
                    window = window_around(src, bounds, margin)
                predict_window(image, window, path, model, card, options=options,
                               feedback=part)
        except Cancelled:
            raise Cancelled(f"cancelled while mapping; the model {written} is "
                            "complete") from None


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
