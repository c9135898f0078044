"""Turning raster bands into model input: band choice, radiometric scaling, validity.

The model wants RGB (or RGBN) scaled as its card says; imagery arrives as 3- or
4-band uint8, 10/11/12/16-bit uint16, with nodata values or an alpha band.
"""
from __future__ import annotations

import numpy as np

from ..errors import UgsError

GDAL_CACHE_MB = 256


def bounded_gdal_cache() -> dict:
    """rasterio.Env settings for reading or writing a large raster: GDAL keeps blocks
    in its cache (5 % of RAM by default) until it flushes them; bounded, memory stays
    flat however large the raster. A GDAL_CACHEMAX the user set wins."""
    import os
    return {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_MB}


class ImageryError(UgsError):
    """The raster cannot be fed to the model as it is; the message says how to fix it."""


def parse_band_list(text) -> tuple:
    """'3,2,1' or [3, 2, 1] → (3, 2, 1); empty → ()."""
    if text is None:
        return ()
    if isinstance(text, str):
        text = [t for t in text.replace(" ", "").split(",") if t]
    try:
        bands = tuple(int(t) for t in text)
    except (TypeError, ValueError):
        raise ImageryError(f"band list {text!r} is not a comma-separated list of "
                           "band numbers such as 1,2,3") from None
    return bands


def choose_bands(band_count: int, requested=(), needed: int = 3,
                 color_interp=None) -> tuple:
    """1-based bands to read, in model order.

    3 or 4 bands (the 4th being NIR or alpha) → 1,2,3 as R,G,B. Anything else needs
    an explicit mapping, since guessing which of 1, 2 or 8 bands is red is wrong
    more often than right.
    """
    if requested:
        if len(requested) != needed:
            raise ImageryError(f"the model needs {needed} bands "
                               f"({'R,G,B' if needed == 3 else 'R,G,B,NIR'}) but the "
                               f"band mapping lists {len(requested)}: {requested}")
        bad = [b for b in requested if not 1 <= b <= band_count]
        if bad:
            raise ImageryError(f"band(s) {bad} do not exist: the raster has "
                               f"{band_count} band(s), numbered 1..{band_count}")
        return tuple(requested)
    if band_count < needed:
        raise ImageryError(
            f"the raster has {band_count} band(s) but the model needs {needed} "
            f"({'R,G,B' if needed == 3 else 'R,G,B,NIR'}); give a band mapping "
            "(BANDS / --bands) if the bands are elsewhere, or use colour imagery")
    if band_count > 4 and needed == 3:
        raise ImageryError(
            f"the raster has {band_count} bands; say which are red, green and blue "
            "with a band mapping (BANDS / --bands, e.g. 4,3,2 for Sentinel-2-like order)")
    return tuple(range(1, needed + 1))


def find_alpha_band(color_interp) -> int | None:
    """1-based index of the alpha band, if GDAL marks one."""
    for i, ci in enumerate(color_interp or (), start=1):
        if str(getattr(ci, "name", ci)).lower() == "alpha":
            return i
    return None


def plan_scaling(dtype: str, sample: np.ndarray | None, nodata=None,
                 low_pct: float = 0.5, high_pct: float = 99.5, band_count: int = 3):
    """Per-band (low, high) scaling to 0..1, and a note for the log.

    uint8: fixed 0..255. Other types: a percentile stretch of a sample of valid
    pixels, because 10/11/12-bit data stored as uint16 never reaches 65535 and a
    fixed divisor would give a near-black image.
    """
    if dtype == "uint8":
        n = band_count if sample is None else sample.shape[0]
        return (0.0,) * n, (255.0,) * n, "uint8 input scaled by 1/255"
    if sample is None or sample.size == 0:
        raise ImageryError("cannot derive a scaling for the raster: no valid pixels")
    lows, highs = [], []
    for band in sample:
        valid = band[np.isfinite(band)]
        if nodata is not None:
            valid = valid[valid != nodata]
        if valid.size == 0:
            raise ImageryError("a band has no valid pixels; check the nodata value")
        lo, hi = np.percentile(valid, [low_pct, high_pct])
        if hi <= lo:
            hi = lo + 1.0
        lows.append(float(lo))
        highs.append(float(hi))
    bits = int(np.ceil(np.log2(max(highs) + 1))) if max(highs) > 0 else 0
    note = (f"{dtype} input (values up to ~{max(highs):.0f}, about {bits}-bit): "
            f"percentile stretch {low_pct}-{high_pct} % per band, "
            f"low={['%.0f' % v for v in lows]}, high={['%.0f' % v for v in highs]}")
    return tuple(lows), tuple(highs), note


def to_unit(data: np.ndarray, low, high) -> np.ndarray:
    """(C,H,W) raw values → float32 0..1 with the band plan's stretch."""
    low = np.asarray(low, dtype=np.float32).reshape(-1, 1, 1)
    high = np.asarray(high, dtype=np.float32).reshape(-1, 1, 1)
    out = (data.astype(np.float32) - low) / (high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def to_model_input(unit: np.ndarray, scaling: str = "minus_one_one") -> np.ndarray:
    """0..1 → the model's input range ("minus_one_one": (x - 0.5) / 0.5, as UGSNet)."""
    if scaling == "minus_one_one":
        return (unit - 0.5) / 0.5
    if scaling == "unit":
        return unit
    raise ImageryError(f"unknown input scaling {scaling!r} in the model card")


def valid_mask(data: np.ndarray, nodata=None, alpha: np.ndarray | None = None,
               dataset_mask: np.ndarray | None = None) -> np.ndarray:
    """(H,W) bool: pixels with data. A pixel is invalid when every band equals nodata,
    any band is NaN, the alpha is 0, or GDAL's own mask says so."""
    valid = np.ones(data.shape[1:], dtype=bool)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.all(np.isfinite(data), axis=0)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        valid &= ~np.all(data == nodata, axis=0)
    if alpha is not None:
        valid &= alpha > 0
    if dataset_mask is not None:
        valid &= dataset_mask > 0
    return valid


def pixel_size_m(crs, transform, bounds):
    """Approximate ground pixel size in metres, or None when the CRS is unknown."""
    if crs is None:
        return None
    res_x, res_y = abs(transform.a), abs(transform.e)
    if crs.is_geographic:
        lat = np.deg2rad((bounds.top + bounds.bottom) / 2.0)
        return float(np.sqrt(res_x * 111320.0 * np.cos(lat) * res_y * 110574.0))
    try:
        unit = crs.linear_units_factor[1]
    except Exception:  # CRS without a well-defined linear unit
        unit = 1.0
    return float(np.sqrt(res_x * res_y) * unit)


class BandPlanReader:
    """Reads tiles of the model's bands (scaled as its card says) and their validity."""

    def __init__(self, src, card, requested_bands, boundary, log):
        import rasterio
        from rasterio.enums import Resampling
        needed = len(card.get("input_bands", ("red", "green", "blue")))
        alpha = find_alpha_band(src.colorinterp)
        usable = src.count - (1 if alpha == src.count else 0)
        self.bands = choose_bands(usable if not requested_bands else src.count,
                                          tuple(requested_bands), needed)
        self.alpha = alpha
        self.nodata = src.nodata
        self.has_internal_mask = any(
            rasterio.enums.MaskFlags.per_dataset in flags for flags in src.mask_flag_enums)
        self.scaling = card.get("input_scaling", "minus_one_one")
        self.boundary = boundary
        sample = None
        if src.dtypes[self.bands[0] - 1] != "uint8":
            scale = max(1.0, max(src.width, src.height) / 1024)
            shape = (len(self.bands), max(1, int(src.height / scale)),
                     max(1, int(src.width / scale)))
            sample = src.read(self.bands, out_shape=shape,
                              resampling=Resampling.nearest).astype(np.float64)
            if self.nodata is not None:
                sample[:, np.all(sample == self.nodata, axis=0)] = np.nan
        self.low, self.high, note = plan_scaling(
            src.dtypes[self.bands[0] - 1], sample, band_count=len(self.bands))
        log(f"Bands {','.join(map(str, self.bands))} as "
            f"{'/'.join(b[0].upper() for b in card.get('input_bands', 'rgb'))}; {note}"
            + (f"; alpha band {alpha}" if alpha else "")
            + (f"; nodata {self.nodata:g}" if self.nodata is not None else ""))

    def read_unit(self, src, window):
        """(bands 0..1 float32, valid bool) of one window."""
        data = src.read(self.bands, window=window)
        alpha = src.read(self.alpha, window=window) if self.alpha else None
        dmask = src.dataset_mask(window=window) if self.has_internal_mask else None
        valid = valid_mask(data, self.nodata, alpha, dmask)
        if self.boundary is not None:
            valid &= self.boundary(window, src.window_transform(window))
        return to_unit(data, self.low, self.high), valid

    def read(self, src, window):
        """(model input, valid) of one window."""
        unit, valid = self.read_unit(src, window)
        unit[:, ~valid] = 0.5  # neutral grey: keeps nodata from steering the tile
        return to_model_input(unit, self.scaling), valid


def source_frames(src) -> list:
    """(file name, bounds in the raster's CRS) of each image a mosaic (a GDAL VRT) is
    made of, when it has two or more; [] for a single image."""
    from pathlib import Path

    import rasterio
    from rasterio.warp import transform_bounds
    if src.driver != "VRT":
        return []
    frames = []
    for name in src.files[1:]:
        path = Path(name)
        if not path.is_absolute() and not path.exists() and src.name:
            path = Path(src.name).parent / path
        try:
            with rasterio.open(path) as frame:
                bounds = tuple(frame.bounds) if frame.crs == src.crs or not frame.crs \
                    else transform_bounds(frame.crs, src.crs, *frame.bounds)
        except rasterio.errors.RasterioIOError:
            continue  # a file of the list that is not an image (a mask, an .ovr)
        frames.append((path.name, bounds))
    return frames if len(frames) >= 2 else []
