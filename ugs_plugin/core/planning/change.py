"""Change between two green-space class maps of one place: a change raster on the
first map's grid (the second resampled to it by nearest neighbour when the grids
differ), written strip by strip, and the change inside zones."""
from __future__ import annotations

import contextlib

import numpy as np

from ..errors import Cancelled, UgsError
from ..feedback import Feedback, SILENT
from .zonal import NODATA, rows_per_strip, StripPatches, zone_strips

STABLE_OTHER, STABLE_GREEN, GAIN, LOSS = 0, 1, 2, 3
CLASSES = {STABLE_OTHER: ("stable other", (215, 215, 215)),
           STABLE_GREEN: ("stable green", (56, 168, 0)),
           GAIN: ("gain", (0, 112, 255)),
           LOSS: ("loss", (230, 0, 0))}


def same_grid(a, b) -> bool:
    return (a.crs == b.crs and a.transform.almost_equals(b.transform)
            and (a.width, a.height) == (b.width, b.height))


@contextlib.contextmanager
def on_grid_of(reference, other):
    """``other`` as seen on ``reference``'s grid: itself, or a nearest-neighbour
    warped view (nodata outside it)."""
    if same_grid(reference, other):
        yield other
        return
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    with WarpedVRT(other, crs=reference.crs, transform=reference.transform,
                   width=reference.width, height=reference.height,
                   resampling=Resampling.nearest, nodata=NODATA,
                   src_nodata=other.nodata if other.nodata is not None else NODATA) as vrt:
        yield vrt


def _check_classes(data, name):
    if ((data > 1) & (data != NODATA)).any():
        raise UgsError(f"{name} holds values other than 0, 1 and {NODATA}: give class "
                       "maps (the output of Extract urban green space), not imagery or "
                       "probabilities")


def change_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel: stable other 0, stable green 1, gain 2, loss 3, nodata 255."""
    codes = np.where(a == b, a, np.where(b == 1, GAIN, LOSS)).astype(np.uint8)
    codes[(a == NODATA) | (b == NODATA)] = NODATA
    return codes


def write_change(src_a, src_b, output_tmp, strip_rows=1024, *, names=("map A", "map B"),
                 feedback: Feedback = SILENT) -> np.ndarray:
    """Write the change raster of two open class rasters to ``output_tmp`` (on A's
    grid); returns the pixel count of each code 0..3 and of nodata."""
    from rasterio.windows import Window
    profile = dict(driver="GTiff", width=src_a.width, height=src_a.height, count=1,
                   dtype="uint8", crs=src_a.crs, transform=src_a.transform,
                   nodata=NODATA, compress="deflate", tiled=True, blockxsize=256,
                   blockysize=256, BIGTIFF="IF_SAFER")
    counts = np.zeros(256, np.int64)
    strip_rows = rows_per_strip(src_a.width, strip_rows)
    import rasterio
    with on_grid_of(src_a, src_b) as b_view, rasterio.open(output_tmp, "w",
                                                             **profile) as dst:
        for top in range(0, src_a.height, strip_rows):
            if feedback.is_cancelled():
                raise Cancelled("cancelled: no change raster was written")
            win = Window(0, top, src_a.width, min(strip_rows, src_a.height - top))
            a = src_a.read(1, window=win)
            b = b_view.read(1, window=win)
            _check_classes(a, names[0])
            _check_classes(b, names[1])
            codes = change_codes(a, b)
            dst.write(codes, 1, window=win)
            counts += np.bincount(codes.ravel(), minlength=256)
            feedback.progress(100.0 * (top + win.height) / src_a.height)
        dst.write_colormap(1, {**{code: (*rgb, 255) for code, (_, rgb) in CLASSES.items()},
                               NODATA: (0, 0, 0, 0)})
        dst.update_tags(1, **{f"class_{code}": name for code, (name, _) in
                              CLASSES.items()})
    return np.array([*counts[:4], counts[NODATA]])


def zone_change(src, geometry, strip_rows: int = 1024, *,
                feedback: Feedback = SILENT) -> dict:
    """Pixel counts of each change code inside a zone of an open change raster, and
    the 8-connected patches of gain and of loss."""
    counts = np.zeros(256, np.int64)
    gains, losses = StripPatches(), StripPatches()
    for data, inside, transform in zone_strips(src, geometry, strip_rows,
                                               feedback=feedback):
        counts += np.bincount(data[inside], minlength=256)
        gains.add(inside & (data == GAIN), transform)
        losses.add(inside & (data == LOSS), transform)
    return {"counts": counts[:4].tolist(), "gain_patches": gains.summary()[0],
            "loss_patches": losses.summary()[0]}
