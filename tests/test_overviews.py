"""Overviews computed while the map is written: each level is the majority class
(the mean, for percent rasters) of the full-resolution pixels it covers."""
import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from ugs_plugin.core.config import PredictOptions
from ugs_plugin.core.mapping import overviews
from ugs_plugin.core.mapping.overviews import Levels, overview_factors
from ugs_plugin.core.mapping.predict import predict_raster

pytestmark = pytest.mark.skipif(overviews._gdal() is None,
                                reason="GDAL's Python bindings on rasterio's GDAL")


def block_view(a, f, fill):
    """``a`` padded to multiples of f, as (rows, f, cols, f) blocks."""
    h, w = -(-a.shape[0] // f) * f, -(-a.shape[1] // f) * f
    padded = np.full((h, w), fill, a.dtype)
    padded[:a.shape[0], :a.shape[1]] = a
    return padded.reshape(h // f, f, w // f, f)


def majority(classes, f):
    blocks = block_view(classes, f, 255)
    green = (blocks == 1).sum(axis=(1, 3))
    valid = (blocks != 255).sum(axis=(1, 3))
    corner = blocks[:, 0, :, 0]
    out = np.where((2 * green > valid) | ((2 * green == valid) & (corner == 1)), 1, 0)
    return np.where(valid == 0, 255, out).astype(np.uint8)


def mean(percent, f):
    blocks = block_view(percent, f, 255)
    valid = blocks != 255
    total = np.where(valid, blocks, 0).astype(np.int64).sum(axis=(1, 3))
    count = valid.sum(axis=(1, 3))
    return np.where(count == 0, 255,
                    np.rint(total / np.maximum(count, 1))).astype(np.uint8)


def levels_of(path):
    """The overview levels of ``path`` by their factor (rasterio reports one a ragged
    edge rounds, e.g. 511 for 512, so the factors are counted, not read)."""
    with rasterio.open(path) as ds:
        count = len(ds.overviews(1))
    out = {}
    for i in range(count):
        with rasterio.open(path, overview_level=i) as level:
            out[2 ** (i + 1)] = level.read(1)
    return out


def test_mapped_levels_are_the_majority_and_mean_of_the_map(tmp_path, mosaic_512,
                                                            model_and_card):
    """Through the real extraction: narrow tiles and column bands, so the levels are
    filled from many windows."""
    model, card = model_and_card
    out, prob = tmp_path / "map.tif", tmp_path / "prob.tif"
    predict_raster(mosaic_512, out, model, card, probability_path=prob,
                   options=PredictOptions(tile_size=128, overlap=16, band_width=256))
    classes, percent = (rasterio.open(p).read(1) for p in (out, prob))
    assert 0.05 < np.mean(classes == 1) < 0.95
    class_levels, percent_levels = levels_of(out), levels_of(prob)
    assert list(class_levels) == list(percent_levels) == overview_factors(512, 512)
    for f, level in class_levels.items():
        assert np.array_equal(level, majority(classes, f))
        assert np.array_equal(percent_levels[f], mean(percent, f))


def test_gdal_builds_them_where_they_do_not_fit(tmp_path, mosaic_512, model_and_card,
                                                monkeypatch):
    """Too large to hold: GDAL's own mode overviews, which agree with the majority
    levels but for ties."""
    model, card = model_and_card
    predict_raster(mosaic_512, tmp_path / "ours.tif", model, card)
    monkeypatch.setattr(overviews, "MAX_LEVEL_BYTES", 0)
    predict_raster(mosaic_512, tmp_path / "gdal.tif", model, card)
    ours, gdal = levels_of(tmp_path / "ours.tif"), levels_of(tmp_path / "gdal.tif")
    assert list(ours) == list(gdal) == [2]
    assert np.mean(ours[2] != gdal[2]) < 0.01
    assert np.array_equal(rasterio.open(tmp_path / "ours.tif").read(1),
                          rasterio.open(tmp_path / "gdal.tif").read(1))


def test_levels_coarser_than_a_block_and_ragged_edges(tmp_path):
    """A 140,000 px wide strip: levels to 1/512 (coarser than the 256 px windows are
    aligned to), windows of 256 rows in bands of 8,192 columns, a ragged last row
    and column, nodata at the start."""
    height, width = 300, 140_001
    rng = np.random.default_rng(3)
    classes = (rng.random((height, width)) < 0.3).astype(np.uint8)
    classes[:40, :9000] = 255
    levels = Levels(height, width, "class")
    assert levels.factors[-1] == 512
    for r0 in range(0, height, 256):
        for c0 in range(0, width, 8192):
            window = classes[r0:r0 + 256, c0:c0 + 8192]
            levels.add(window, window != 255, r0, c0)
    path = tmp_path / "strip.tif"
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="uint8", nodata=255, tiled=True, compress="deflate") as dst:
        dst.write(classes, 1, window=Window(0, 0, width, height))
    levels.write(path)
    written = levels_of(path)
    assert list(written) == overview_factors(height, width)
    for f, level in written.items():
        assert np.array_equal(level, majority(classes, f)), f
