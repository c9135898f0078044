"""NAIP crops from ../shared/data as labelled samples, and the quality measures used
by the training script and bench_quality.py.

Labels are NDVI pseudo-labels (vegetation from the near-infrared band), not ground
truth; the human tree points are ground truth for tree recall.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from rasterio.transform import from_origin

REPO = Path(__file__).resolve().parent.parent
NAIP = REPO.parent / "shared" / "data" / "naip_urban_ca"
CITIES = ("bishop", "chico", "claremont", "long_beach", "palm_springs", "santa_monica")
TRAIN_CITIES = ("bishop", "chico", "long_beach", "santa_monica")
VAL_CITIES = ("claremont", "palm_springs")
NDVI_THRESHOLD = 0.1
LABEL_RULE = (f"NDVI = (NIR - R) / (NIR + R) > {NDVI_THRESHOLD}, then a 3x3 majority "
              "vote; pseudo-labels of living vegetation, not ground truth")


def ndvi(bands: np.ndarray) -> np.ndarray:
    red, nir = bands[0].astype(np.float32), bands[3].astype(np.float32)
    return (nir - red) / np.maximum(nir + red, 1e-6)


def ndvi_label(bands: np.ndarray, threshold: float = NDVI_THRESHOLD) -> np.ndarray:
    return label_from_ndvi(ndvi(bands), threshold)


def label_from_ndvi(v: np.ndarray, threshold: float = NDVI_THRESHOLD) -> np.ndarray:
    raw = torch.from_numpy((v > threshold).astype(np.float32))[None, None]
    vote = F.avg_pool2d(raw, 3, stride=1, padding=1, count_include_pad=False)
    return (vote[0, 0].numpy() > 0.5).astype(np.uint8)


def label_rule(threshold: float) -> str:
    return LABEL_RULE.replace(f"> {NDVI_THRESHOLD}", f"> {threshold}")


def hard_kinds(bands: np.ndarray) -> np.ndarray:
    """Per pixel, the non-vegetation an RGB model takes for green (codes of
    ugs_plugin.core.tiles.HARD_KINDS), found with the near-infrared band:

    1 water or deep shadow: dark in NIR (water absorbs it; deep shadow gets little)
      and not vegetation (NDVI < 0.05);
    2 shadow or dark surface: dark in the visible (mean RGB < 60), NDVI < 0.1;
    3 green-looking non-vegetation: green above red and blue but NDVI < 0.05
      (artificial turf, green courts and roofs, greenish water)."""
    red, green, blue, nir = (b.astype(np.float32) for b in bands[:4])
    v = ndvi(bands)
    lum = (red + green + blue) / 3
    kinds = np.zeros(v.shape, np.uint8)
    kinds[(green > red + 8) & (green > blue + 3) & (v < 0.05)] = 3
    kinds[(lum < 60) & (v < 0.1)] = 2
    kinds[(nir < 40) & (nir < 0.5 * lum) & (v < 0.05)] = 1
    return kinds


def tree_pixels(image_path, shape) -> np.ndarray:
    """(row, col) of the annotated trees inside the crop; empty if none."""
    points = Path(str(image_path).replace("/images/", "/points/")).with_suffix(".geojson")
    if not points.exists():
        return np.zeros((0, 2), int)
    import rasterio
    with rasterio.open(image_path) as src:
        transform = src.transform
    rows = []
    for feature in json.loads(points.read_text())["features"]:
        x, y = feature["geometry"]["coordinates"][:2]
        col, row = ~transform * (x, y)
        r, c = int(np.floor(row)), int(np.floor(col))
        if 0 <= r < shape[0] and 0 <= c < shape[1]:
            rows.append((r, c))
    return np.array(rows, int).reshape(-1, 2)


def load_city(city, data=NAIP, threshold=NDVI_THRESHOLD):
    """Samples (ugs_plugin.core.train.Sample) with NDVI labels, hard-example kinds and
    tree points."""
    import rasterio
    from ugs_plugin.core.learning.training_tiles import Sample
    samples = []
    for path in sorted(glob.glob(os.path.join(data, "images", f"{city}_2020_*.tif"))):
        with rasterio.open(path) as src:
            bands = src.read()
        sample = Sample(np.ascontiguousarray(bands[:3]), ndvi_label(bands, threshold),
                        Path(path).stem, city, hard_kinds(bands))
        sample.ndvi = ndvi(bands)
        sample.trees = tree_pixels(path, bands.shape[1:])
        samples.append(sample)
    return samples


def excess_green_otsu(image: np.ndarray) -> np.ndarray:
    """Baseline: excess green 2G - R - B, thresholded by Otsu per tile."""
    rgb = image.astype(np.float32)
    total = np.maximum(rgb.sum(0), 1e-6)
    r, g, b = rgb / total
    exg = 2 * g - r - b
    hist, edges = np.histogram(exg, bins=256)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * centres)
    total_w, total_m = weight[-1], mean[-1]
    between = (total_m * weight / total_w - mean) ** 2 / np.maximum(
        weight * (total_w - weight), 1e-9)
    return (exg > centres[np.argmax(between)]).astype(np.uint8)


def shift(image: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A realistic radiometric change between sensors/seasons, uint8 in and out."""
    x = image.astype(np.float32) / 255
    rng = np.random.default_rng(seed)
    if kind == "desaturated":      # dry season / faded product
        grey = x.mean(0, keepdims=True)
        x = grey + 0.45 * (x - grey)
    elif kind == "warm_cast":      # yellow-brown cast and lifted blacks
        x = x * np.array([1.12, 1.0, 0.78]).reshape(3, 1, 1) + 0.04
    elif kind == "haze":           # atmospheric haze, low contrast
        x = 0.65 * x + 0.35 * np.array([0.85, 0.87, 0.9]).reshape(3, 1, 1)
    elif kind == "dark_contrast":  # darker, punchier tone curve
        x = np.clip((x - 0.5) * 1.35 + 0.42, 0, 1) ** 1.3
    elif kind == "hue_shift":      # greens toward olive
        from ugs_plugin.core.learning.train import rotate_hue
        x = rotate_hue(torch.from_numpy(x), 18.0).numpy()
    elif kind == "olive_dark":     # strong compound change: olive greens, faded, dark
        from ugs_plugin.core.learning.train import rotate_hue
        x = rotate_hue(torch.from_numpy(x), 30.0).numpy()
        grey = x.mean(0, keepdims=True)
        x = grey + 0.5 * (x - grey)
        x = np.clip((x - 0.5) * 1.4 + 0.4, 0, 1) ** 1.4
    elif kind == "dry_season":    # yellowed, faded vegetation and a warm haze
        from ugs_plugin.core.learning.train import rotate_hue
        x = rotate_hue(torch.from_numpy(x), -25.0).numpy()
        grey = x.mean(0, keepdims=True)
        x = grey + 0.55 * (x - grey)
        x = 0.8 * x + 0.2 * np.array([0.8, 0.74, 0.62]).reshape(3, 1, 1)
    elif kind != "none":
        raise ValueError(kind)
    del rng
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


SHIFTS = ("none", "desaturated", "warm_cast", "haze", "dark_contrast", "hue_shift",
          "olive_dark", "dry_season")


def score(preds, samples):
    """Pixel scores vs NDVI labels and tree recall vs the tree points."""
    from ugs_plugin.core.learning.train import binary_counts, scores
    totals = np.zeros(4, np.int64)
    hit = trees = 0
    for pred, s in zip(preds, samples):
        totals += binary_counts(pred, s.mask)
        if len(s.trees):
            hit += int(pred[s.trees[:, 0], s.trees[:, 1]].sum())
            trees += len(s.trees)
    result = scores(*totals)
    result["tree_recall"] = hit / trees if trees else float("nan")
    result["trees"] = trees
    return result


# A user's raster and marks (bench_finetune.py and the fine-tuning tests): crops of
# a shifted city mosaicked at ~1 m, and squares placed where the base model is wrong.
USER_SCENE_SCALE = 0.6                 # 0.6 m crops to ~1 m
USER_SCENE_ORIGIN = (500000.0, 3700000.0)




def resample(array, mode):
    t = torch.from_numpy(array.astype(np.float32))[None]
    if t.dim() == 3:
        t = t[None]
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(t, scale_factor=USER_SCENE_SCALE, mode=mode, **kw)[0].numpy()


def user_scene(samples, folder, cols=7):
    """Mosaic of the crops at ~1 m (uint8 RGB GeoTIFF) and its NDVI label mosaic."""
    tiles = [np.clip(resample(s.image, "bilinear"), 0, 255).round().astype(np.uint8)
             for s in samples]
    labels = [resample(s.mask, "nearest")[0].astype(np.uint8) for s in samples]
    side = tiles[0].shape[1]
    rows = -(-len(tiles) // cols)
    image = np.zeros((3, rows * side, cols * side), np.uint8)
    label = np.full((rows * side, cols * side), 255, np.uint8)
    for i, (t, l) in enumerate(zip(tiles, labels)):
        r, c = divmod(i, cols)
        image[:, r * side:(r + 1) * side, c * side:(c + 1) * side] = t
        label[r * side:(r + 1) * side, c * side:(c + 1) * side] = l
    path = Path(folder) / "user_scene.tif"
    transform = from_origin(*USER_SCENE_ORIGIN, 1.0, 1.0)
    with rasterio.open(path, "w", driver="GTiff", width=image.shape[2],
                       height=image.shape[1], count=3, dtype="uint8",
                       crs="EPSG:26911", transform=transform) as dst:
        dst.write(image)
    return path, label, transform


def as_frames(scene, folder, side=1, parts=(2, 2)):
    """``scene`` cut into parts[0] x parts[1] frames (GeoTIFFs) at multiples of
    ``side`` px (the crops' side: frames of whole crops) and mosaicked again as a GDAL
    VRT, the way a city's frames are put together; returns the VRT's path."""
    from osgeo import gdal
    from rasterio.windows import Window
    folder = Path(folder)
    frames = []
    with rasterio.open(scene) as src:
        def cuts(length, n):
            return [0] + [round(length * k / n / side) * side for k in range(1, n)] + \
                [length]
        rows, cols = cuts(src.height, parts[0]), cuts(src.width, parts[1])
        for r0, r1 in zip(rows, rows[1:]):
            for c0, c1 in zip(cols, cols[1:]):
                window = Window(c0, r0, c1 - c0, r1 - r0)
                frames.append(str(folder / f"frame_{len(frames)}.tif"))
                with rasterio.open(frames[-1], "w", **dict(
                        src.profile, width=c1 - c0, height=r1 - r0,
                        transform=src.window_transform(window))) as dst:
                    dst.write(src.read(window=window))
    mosaic = folder / "mosaic.vrt"
    scope = getattr(gdal, "ExceptionMgr", None)  # GDAL 3.7+; keeps the global setting
    with scope(useExceptions=True) if scope else contextlib.nullcontext():
        gdal.BuildVRT(str(mosaic), frames).FlushCache()
    return mosaic


def user_squares(prediction, label, count, rng, side=12, purity=0.9, transform=None):
    """``count`` squares per class, first where the base model is wrong, as
    (shapely box, class) in the scene's CRS (``transform``: the user scene's)."""
    from shapely.geometry import box
    transform = transform or from_origin(*USER_SCENE_ORIGIN, 1.0, 1.0)
    h, w = label.shape
    taken = np.zeros_like(label, bool)
    out = []
    for cls in (0, 1):
        chosen = 0
        for candidates in ((prediction != cls) & (label == cls), label == cls):
            ys, xs = np.nonzero(candidates)
            for k in rng.permutation(len(ys)):
                if chosen == count:
                    break
                y0, x0 = ys[k] - side // 2, xs[k] - side // 2
                if y0 < 0 or x0 < 0 or y0 + side > h or x0 + side > w:
                    continue
                window = (slice(y0 - side, y0 + 2 * side), slice(x0 - side, x0 + 2 * side))
                if taken[window].any():
                    continue
                if (label[y0:y0 + side, x0:x0 + side] == cls).mean() < purity:
                    continue
                taken[y0:y0 + side, x0:x0 + side] = True
                left, top = transform * (x0, y0)
                right, bottom = transform * (x0 + side, y0 + side)
                out.append((box(left, bottom, right, top), cls))
                chosen += 1
    return out
