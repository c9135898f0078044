"""Streaming tiled inference of one raster into a green-space class map.

Tiles are read window by window, run through the model in batches, blended with
smooth weights where they overlap, and written block by block to a tiled,
compressed GeoTIFF. Memory is bounded by the tile size and a fixed band width, not
by the raster: rows of tiles are accumulated in a rolling buffer, and rasters wider
than ``band_width`` are processed in vertical bands (one tile column recomputed per
band border).

Outputs are written to a temporary file beside the target and renamed when complete;
a failure or cancellation removes the temporary file and leaves the target untouched.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..config import GREEN, NODATA, OTHER, OVERLAP_DIVISOR, PredictOptions
from ..errors import Cancelled, UgsError
from ..feedback import Feedback, SILENT
from ..model.engines import as_engine
from ..outputs import OutputError, remove_quietly, temp_beside
from . import imagery
from .imagery import BandPlanReader, bounded_gdal_cache
from .overviews import BLOCK, Levels, overview_factors
from .tiling import bands_of_columns, blend_weights, tile_origins

MIN_SIDE = 32
GREEN_RGBA = (56, 168, 0, 255)


class PredictError(UgsError):
    """Bad input or output for a prediction; the message says how to fix it."""


def _creation_profile(src, nodata, role="class"):
    """Deflate at level 1: 40 % less writing time than level 6 for files of about the
    same size (benchmarks/RESULTS.md); the horizontal predictor only for the percent
    rasters, since class codes do not vary smoothly."""
    return {
        "driver": "GTiff", "dtype": "uint8", "count": 1, "nodata": nodata,
        "width": src.width, "height": src.height, "crs": src.crs,
        "transform": src.transform, "tiled": True, "blockxsize": BLOCK,
        "blockysize": BLOCK, "compress": "deflate", "zlevel": 1,
        "predictor": 1 if role == "class" else 2, "BIGTIFF": "IF_SAFER",
    }


def predict_raster(image_path: str | Path, output_path: str | Path, model, card: dict,
                   *, probability_path: str | Path | None = None,
                   uncertainty_path: str | Path | None = None,
                   options: PredictOptions | None = None, boundary=None,
                   feedback: Feedback = SILENT) -> dict:
    """Map green space in ``image_path`` with ``model`` (an engines.Engine, or a
    PyTorch model run by the torch engine) to the GeoTIFF ``output_path``, which the
    caller has checked (errors.check_output_path); returns a summary dict.

    ``boundary(window, transform) -> bool array`` optionally restricts the map
    (pixels outside become nodata). Progress and cancellation once per batch.
    """
    options = options or PredictOptions()
    image_path, output_path = Path(image_path), Path(output_path)
    # Roles, in this order: the class map, then the optional percent rasters.
    roles = ["class"] + [role for role, path in (("probability", probability_path),
                                                  ("uncertainty", uncertainty_path))
                         if path]
    targets = [output_path] + [Path(p) for p in (probability_path, uncertainty_path)
                               if p]
    tile = int(options.tile_size or card.get("tile_size", 512))
    overlap = int(options.overlap if options.overlap is not None
                  else tile // OVERLAP_DIVISOR)
    if tile < MIN_SIDE or tile % 16:
        raise PredictError(f"tile size {tile} must be a multiple of 16 and at least "
                           f"{MIN_SIDE}")
    if not 0 <= overlap <= tile // 2:
        raise PredictError(f"overlap {overlap} must be between 0 and half the tile "
                           f"size ({tile // 2})")
    if options.batch_size < 1:
        raise PredictError("batch size must be at least 1")
    if not 0.0 < options.threshold < 1.0:
        raise PredictError(f"threshold {options.threshold} must be between 0 and 1")

    try:
        src = rasterio.open(image_path)
    except rasterio.errors.RasterioIOError as err:
        raise PredictError(f"cannot open {image_path} as a raster: {err}") from None
    temps = []
    t0 = time.perf_counter()
    try:
        if src.crs is None and not options.allow_no_crs:
            raise PredictError(
                f"{image_path.name} has no coordinate reference system, so the map could "
                "not be placed or its pixel size checked. Assign one first (QGIS: "
                "Raster > Projections > Assign Projection; GDAL: gdal_edit.py -a_srs), "
                "or allow working on the bare pixel grid (--allow-no-crs)")
        if src.width < MIN_SIDE or src.height < MIN_SIDE:
            raise PredictError(f"{image_path.name} is {src.width}x{src.height} px; the "
                               f"model needs at least {MIN_SIDE}x{MIN_SIDE}")
        try:
            reader = BandPlanReader(src, card, options.bands, boundary, feedback.info)
        except imagery.ImageryError as err:
            raise PredictError(str(err)) from None
        size_m = imagery.pixel_size_m(src.crs, src.transform, src.bounds)
        expected = float(card.get("pixel_size_m", 1.0))
        if size_m is None:
            feedback.warning("no CRS: working on the pixel grid; the output has no CRS either")
        elif not 0.5 * expected <= size_m <= 2.0 * expected:
            feedback.warning(f"pixel size is about {size_m:.2f} m; the model expects ~{expected:g} m "
                 "imagery, so results may be poor. Resample the raster to about "
                 f"{expected:g} m first.")
        else:
            feedback.info(f"pixel size about {size_m:.2f} m")

        try:
            temps = [temp_beside(t, ".part.tif") for t in targets]
        except OutputError as err:
            raise PredictError(str(err)) from None
        with rasterio.Env(**bounded_gdal_cache()):
            # Overviews computed as the maps are written where they fit, else by GDAL.
            in_step = options.overviews and Levels.fit(src.height, src.width, len(roles))
            levels = {role: Levels(src.height, src.width,
                                   "class" if role == "class" else "percent")
                      for role in roles} if in_step else {}
            summary = _run(src, model, reader, dict(zip(roles, temps)), tile, overlap,
                           options, card, feedback, levels)
            factors = overview_factors(src.height, src.width) \
                if options.overviews else []
            for tmp, role in zip(temps if factors else [], roles):
                if role in levels:
                    try:
                        levels[role].write(tmp)
                    except OSError as err:
                        raise PredictError(str(err)) from None
                    continue
                method = Resampling.mode if role == "class" else Resampling.average
                with rasterio.open(tmp, "r+") as dst:
                    dst.build_overviews(factors, method)
        for tmp, target in zip(temps, targets):
            os.replace(tmp, target)
        temps = []
    finally:
        src.close()
        remove_quietly(*temps)
    seconds = time.perf_counter() - t0
    summary.update({
        "output": str(output_path),
        "probability": str(probability_path) if probability_path else None,
        "uncertainty": str(uncertainty_path) if uncertainty_path else None,
        "seconds": seconds,
        "megapixels_per_second": summary["pixels"] / 1e6 / seconds if seconds else 0.0,
        "pixel_size_m": size_m, "tile_size": tile, "overlap": overlap,
    })
    return summary


def _run(src, model, reader, temps, tile, overlap, options, card, feedback, levels):
    forward = as_engine(model, options.precision, feedback.warning)
    height, width = src.height, src.width
    tile_h, tile_w = min(tile, height), min(tile, width)
    ys = tile_origins(height, tile, overlap)
    xs = tile_origins(width, tile, overlap)
    weights = blend_weights(tile_h, tile_w, overlap)
    column_bands = bands_of_columns(width, options.band_width, BLOCK)
    plans = []
    for bx0, bx1 in column_bands:
        band_xs = [x for x in xs if x < bx1 and x + tile_w > bx0]
        plans.append((bx0, bx1, band_xs))
    total = len(ys) * sum(len(p[2]) for p in plans)
    done = 0
    green = valid_total = 0

    writers = {role: rasterio.open(path, "w", **_creation_profile(src, NODATA, role))
               for role, path in temps.items()}
    try:
        # TIFF palettes carry no alpha: "other" is light grey, not black, in
        # software that shows the palette (QGIS uses the QML style instead).
        writers["class"].write_colormap(1, {OTHER: (235, 235, 235, 255), GREEN: GREEN_RGBA,
                                      NODATA: (255, 255, 255, 255)})
        writers["class"].set_band_description(1, "green space (1) / other (0)")
        tags = {"UGS_MODEL": card.get("name", ""), "UGS_VARIANT": card.get("variant", ""),
                "UGS_TILE_SIZE": str(tile), "UGS_OVERLAP": str(overlap),
                "UGS_THRESHOLD": str(options.threshold)}
        writers["class"].update_tags(**tags)
        if "probability" in writers:
            writers["probability"].set_band_description(
                1, "probability of green space (%)")
            writers["probability"].update_tags(**tags, UGS_UNITS="percent")
        if "uncertainty" in writers:
            writers["uncertainty"].set_band_description(
                1, "uncertainty: 100 - margin between the classes (%)")
            writers["uncertainty"].update_tags(**tags, UGS_UNITS="percent")

        def read_batch(y, batch_xs):
            """(inputs, valid masks, x of each) of the tiles with data in a batch."""
            inputs, valids, keep = [], [], []
            for x in batch_xs:
                data, valid = reader.read(src, Window(x, y, tile_w, tile_h))
                if valid.any():
                    inputs.append(data)
                    valids.append(valid)
                    keep.append(x)
            return inputs, valids, keep

        # One thread reads the next batch while the engine runs this one (the
        # engines release the GIL); only that thread touches ``src`` meanwhile.
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            for bx0, bx1, band_xs in plans:
                cx0, cx1 = band_xs[0], band_xs[-1] + tile_w
                buf_h = tile_h + BLOCK
                acc = np.zeros((buf_h, cx1 - cx0), np.float32)
                wsum = np.zeros_like(acc)
                r0 = 0
                jobs = [(y, band_xs[j:j + options.batch_size]) for y in ys
                        for j in range(0, len(band_xs), options.batch_size)]
                pending = prefetch.submit(read_batch, *jobs[0])
                for k, (y, batch_xs) in enumerate(jobs):
                    if feedback.is_cancelled():
                        pending.cancel()
                        raise Cancelled("cancelled: no output was written")
                    inputs, valids, keep = pending.result()
                    if k + 1 < len(jobs):
                        pending = prefetch.submit(read_batch, *jobs[k + 1])
                    # Tiles start at y or later from here on: rows above are final.
                    flush_to = y - y % BLOCK
                    if flush_to > r0:
                        green, valid_total = _flush(writers, levels, acc, wsum, r0,
                                                    flush_to, cx0, bx0, bx1,
                                                    options.threshold, green,
                                                    valid_total)
                        shift = flush_to - r0
                        acc[:-shift] = acc[shift:].copy()
                        wsum[:-shift] = wsum[shift:].copy()
                        acc[-shift:] = 0
                        wsum[-shift:] = 0
                        r0 = flush_to
                    if inputs:
                        probs = forward(inputs)
                        for x, prob, valid in zip(keep, probs, valids):
                            w = weights if valid.all() else weights * valid
                            rows = slice(y - r0, y - r0 + tile_h)
                            cols = slice(x - cx0, x - cx0 + tile_w)
                            acc[rows, cols] += prob * w
                            wsum[rows, cols] += w
                    done += len(batch_xs)
                    feedback.progress(100.0 * done / total)
                green, valid_total = _flush(writers, levels, acc, wsum, r0, height,
                                            cx0, bx0, bx1, options.threshold, green,
                                            valid_total)
    finally:
        for w in writers.values():
            w.close()
    return {"pixels": height * width, "valid_pixels": valid_total,
            "green_pixels": green,
            "green_fraction": green / valid_total if valid_total else 0.0,
            "tiles": total, "device": forward.device, "engine": forward.name,
            "batch_size": forward.max_batch or options.batch_size,
            "precision": forward.precision}


def _flush(writers, levels, acc, wsum, r0, r1, cx0, bx0, bx1, threshold, green,
           valid_total):
    """Write rows r0..r1 of the band's columns bx0..bx1 to every map and its
    overview levels."""
    rows = slice(0, r1 - r0)
    cols = slice(bx0 - cx0, bx1 - cx0)
    weight = wsum[rows, cols]
    valid = weight > 0
    prob = np.divide(acc[rows, cols], weight, out=np.zeros_like(weight), where=valid)
    classes = np.full(prob.shape, NODATA, np.uint8)
    is_green = valid & (prob > threshold)
    classes[valid] = OTHER
    classes[is_green] = GREEN
    window = Window(bx0, r0, bx1 - bx0, r1 - r0)
    writers["class"].write(classes, 1, window=window)
    maps = {"class": classes}
    if "uncertainty" in writers:
        margin = np.abs(2 * prob[valid] - 1)  # p(green) - p(other), unsigned
        unsure = np.full(prob.shape, NODATA, np.uint8)
        unsure[valid] = np.rint((1 - margin) * 100).astype(np.uint8)
        writers["uncertainty"].write(unsure, 1, window=window)
        maps["uncertainty"] = unsure
    if "probability" in writers:
        percent = np.full(prob.shape, NODATA, np.uint8)
        percent[valid] = np.rint(prob[valid] * 100).astype(np.uint8)
        writers["probability"].write(percent, 1, window=window)
        maps["probability"] = percent
    for role, level in levels.items():
        level.add(maps[role], valid, r0, bx0)
    return green + int(is_green.sum()), valid_total + int(valid.sum())
