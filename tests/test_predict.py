"""Streaming tiled inference with the bundled model on real imagery."""
import os

import numpy as np
import pytest
import rasterio
import torch

from ugs_plugin.core.errors import UgsError
from ugs_plugin.core.mapping.imagery import to_model_input
from ugs_plugin.core.errors import Cancelled
from ugs_plugin.core.feedback import Feedback, Recording
from ugs_plugin.core.mapping.predict import predict_raster, PredictError
from ugs_plugin.core.config import PredictOptions

from conftest import naip_mosaic, naip_path, write_raster


def run(src, out, model_and_card, prob=None, **opts):
    model, card = model_and_card
    return predict_raster(src, out, model, card, probability_path=prob,
                          options=PredictOptions(**opts))


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_output_is_a_tiled_compressed_class_map_on_the_input_grid(tmp_path, mosaic_512,
                                                                  model_and_card):
    out, prob = tmp_path / "map.tif", tmp_path / "prob.tif"
    summary = run(mosaic_512, out, model_and_card, prob)
    with rasterio.open(mosaic_512) as src, rasterio.open(out) as dst:
        assert (dst.crs, dst.transform, dst.shape) == (src.crs, src.transform, src.shape)
        assert dst.dtypes[0] == "uint8" and dst.nodata == 255
        assert dst.profile["tiled"] and dst.profile["compress"] == "deflate"
        classes = dst.read(1)
    assert set(np.unique(classes)) <= {0, 1}
    p = read(prob)
    assert p.max() <= 100
    assert np.array_equal(classes == 1, p > 50) or np.mean((classes == 1) != (p > 50)) < 1e-3
    assert summary["green_fraction"] == pytest.approx(np.mean(classes == 1))
    assert 0.05 < summary["green_fraction"] < 0.95
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_bundled_model_maps_vegetation_in_a_city_it_never_saw(model_and_card, tmp_path):
    """Held-out Claremont and Palm Springs crops against NDVI pseudo-labels."""
    tp = fp = fn = 0
    for name in ["claremont_2020_10", "claremont_2020_20", "palm_springs_2020_5",
                 "palm_springs_2020_15"]:
        src = naip_path(name)
        out = tmp_path / f"{name}.tif"
        run(src, out, model_and_card)
        with rasterio.open(src) as ds:
            bands = ds.read().astype(np.float32)
        ndvi = (bands[3] - bands[0]) / np.maximum(bands[3] + bands[0], 1e-6)
        truth, pred = ndvi > 0.1, read(out) == 1
        tp += np.sum(pred & truth)
        fp += np.sum(pred & ~truth)
        fn += np.sum(~pred & truth)
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 > 0.75, f"F1 {f1:.3f} against NDVI labels"


def test_tiled_equals_whole_tile_away_from_tile_borders(tmp_path, mosaic_512,
                                                        model_and_card):
    """Tiles of 192 px overlapping by 32 start at 0, 160 and 320: pixels 192..319
    belong to the middle tile alone and must equal that tile run on its own."""
    model, card = model_and_card
    prob = tmp_path / "prob.tif"
    run(mosaic_512, tmp_path / "map.tif", model_and_card, prob, tile_size=192,
        overlap=32, batch_size=1)
    with rasterio.open(mosaic_512) as src:
        tile = src.read(window=((160, 352), (160, 352))).astype(np.float32) / 255
    with torch.inference_mode():
        logits = model(torch.from_numpy(to_model_input(tile))[None])
    alone = np.rint(torch.softmax(logits, 1)[0, 1].numpy() * 100).astype(np.uint8)
    tiled = read(prob)
    assert np.array_equal(tiled[192:320, 192:320], alone[32:160, 32:160])
    # ...and the blend really mixes neighbours in the overlaps.
    assert not np.array_equal(tiled[160:192, 192:320], alone[0:32, 32:160])


def test_batch_size_does_not_change_the_map(tmp_path, mosaic_512, model_and_card):
    maps = []
    for batch in (1, 3, 8):
        out = tmp_path / f"b{batch}.tif"
        run(mosaic_512, out, model_and_card, tile_size=128, overlap=16, batch_size=batch)
        maps.append(read(out))
    assert all(np.array_equal(maps[0], m) for m in maps[1:])


def test_column_bands_give_the_same_map(tmp_path, mosaic_512, model_and_card):
    """Narrow column bands (the memory bound for wide rasters) change nothing."""
    run(mosaic_512, tmp_path / "one.tif", model_and_card, tile_size=128, overlap=16)
    run(mosaic_512, tmp_path / "banded.tif", model_and_card, tile_size=128, overlap=16,
        band_width=256)
    assert np.array_equal(read(tmp_path / "one.tif"), read(tmp_path / "banded.tif"))


def test_nodata_and_alpha_become_255(tmp_path, model_and_card):
    rgb = naip_mosaic(["claremont_2020_5"], 1)[:3].copy()
    rgb[:, :64, :] = 0
    src = write_raster(tmp_path / "nodata.tif", rgb, nodata=0)
    run(src, tmp_path / "a.tif", model_and_card)
    classes = read(tmp_path / "a.tif")
    assert (classes[:64] == 255).all() and (classes[64:] != 255).all()

    alpha = np.full((1, 256, 256), 255, np.uint8)
    alpha[0, :, :100] = 0
    rgba = np.concatenate([naip_mosaic(["claremont_2020_5"], 1)[:3], alpha])
    src = write_raster(tmp_path / "rgba.tif", rgba, photometric="RGB", alpha="YES")
    run(src, tmp_path / "b.tif", model_and_card)
    classes = read(tmp_path / "b.tif")
    assert (classes[:, :100] == 255).all() and (classes[:, 100:] != 255).all()


def test_12_bit_uint16_is_mapped_as_well_as_uint8(tmp_path, model_and_card):
    """The same crops stored as 12-bit uint16 (x16): after the percentile stretch
    the map scores against NDVI labels about as well as from the uint8 original
    (a fixed /65535 scaling would see a black image)."""
    bands = naip_mosaic([f"claremont_2020_{i}" for i in (0, 1, 2, 3)], 2)
    red, nir = bands[0].astype(np.float32), bands[3].astype(np.float32)
    truth = (nir - red) / np.maximum(nir + red, 1e-6) > 0.1
    u8 = write_raster(tmp_path / "u8.tif", bands[:3])
    u16 = write_raster(tmp_path / "u16.tif", bands[:3].astype(np.uint16) * 16 + 8)

    def f1(path):
        pred = read(path) == 1
        return 2 * np.sum(pred & truth) / (np.sum(pred) + np.sum(truth))

    run(u8, tmp_path / "m8.tif", model_and_card)
    run(u16, tmp_path / "m16.tif", model_and_card)
    assert f1(tmp_path / "m16.tif") > f1(tmp_path / "m8.tif") - 0.05
    assert f1(tmp_path / "m16.tif") > 0.7


def test_raster_without_crs_is_refused(tmp_path, model_and_card):
    rgb = naip_mosaic(["claremont_2020_5"], 1)[:3]
    src = write_raster(tmp_path / "nocrs.tif", rgb, crs=None)
    with pytest.raises(PredictError, match="no coordinate reference system"):
        run(src, tmp_path / "out.tif", model_and_card)
    assert not (tmp_path / "out.tif").exists()
    # ...unless the caller accepts the pixel grid.
    run(src, tmp_path / "out.tif", model_and_card, allow_no_crs=True)
    assert read(tmp_path / "out.tif").shape == (256, 256)


@pytest.mark.parametrize("count", [1, 2])
def test_one_or_two_band_raster_without_mapping(tmp_path, model_and_card, count):
    data = naip_mosaic(["claremont_2020_5"], 1)[:count]
    src = write_raster(tmp_path / f"b{count}.tif", data)
    with pytest.raises(PredictError, match="band mapping"):
        run(src, tmp_path / "out.tif", model_and_card)
    assert not (tmp_path / "out.tif").exists()


def test_output_folder_not_writable(tmp_path, mosaic_512, model_and_card):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(PredictError, match="cannot write the output"):
        run(mosaic_512, blocker / "out.tif", model_and_card)
    with pytest.raises(PredictError, match="cannot write the output"):
        run(mosaic_512, "/proc/ugs_test/out.tif", model_and_card)


def test_cancel_half_way_leaves_previous_output_untouched(tmp_path, mosaic_512,
                                                          model_and_card):
    model, card = model_and_card
    out = tmp_path / "map.tif"
    out.write_bytes(b"previous good output")
    calls = []

    class CancelAtHalf(Feedback):
        def is_cancelled(self):
            calls.append(1)
            return len(calls) > 4  # 16 tiles in batches of 2: stop at the 5th batch

    with pytest.raises(Cancelled):
        predict_raster(mosaic_512, out, model, card,
                       probability_path=tmp_path / "prob.tif",
                       options=PredictOptions(tile_size=128, overlap=0, batch_size=2),
                       feedback=CancelAtHalf())
    assert len(calls) == 5
    assert out.read_bytes() == b"previous good output"
    assert not (tmp_path / "prob.tif").exists()
    assert sorted(os.listdir(tmp_path)) == ["map.tif"]


def test_progress_is_reported_per_batch(tmp_path, mosaic_512, model_and_card):
    model, card = model_and_card
    seen = []

    class Seen(Feedback):
        def progress(self, percent, text=""):
            seen.append(percent)

    predict_raster(mosaic_512, tmp_path / "m.tif", model, card,
                   options=PredictOptions(tile_size=128, overlap=0, batch_size=4),
                   feedback=Seen())
    assert seen == [25.0, 50.0, 75.0, 100.0]  # 16 tiles in batches of 4


class OutOfMemoryAbove(torch.nn.Module):
    """The real model, raising the error CUDA raises when a batch holds more than
    ``limit`` tiles (how a GPU that is too small behaves, injected on the CPU)."""

    def __init__(self, model, limit):
        super().__init__()
        self.model, self.limit, self.batches = model, limit, []

    def forward(self, x):
        self.batches.append(len(x))
        if len(x) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.model(x)


def test_out_of_memory_falls_back_to_smaller_batches(tmp_path, mosaic_512,
                                                     model_and_card):
    model, card = model_and_card
    expected = tmp_path / "expected.tif"
    run(mosaic_512, expected, model_and_card, tile_size=128, overlap=16, batch_size=1)
    flaky = OutOfMemoryAbove(model, limit=2)
    recorded = Recording()
    summary = predict_raster(mosaic_512, tmp_path / "map.tif", flaky, card,
                             options=PredictOptions(tile_size=128, overlap=16,
                                                    batch_size=8),
                             feedback=recorded)
    warnings = recorded.warnings
    assert np.array_equal(read(tmp_path / "map.tif"), read(expected))
    assert summary["batch_size"] == 2
    assert flaky.batches[:2] == [5, 2]            # a row of 5 tiles; halved to 2 ...
    assert max(flaky.batches[1:]) <= 2            # ... and kept small afterwards
    assert len(warnings) == 1 and "out of memory" in warnings[0]


def test_out_of_memory_with_one_tile_is_a_clear_error(tmp_path, mosaic_512,
                                                      model_and_card):
    model, card = model_and_card
    with pytest.raises(UgsError, match="one tile does not fit.*smaller tile size"):
        predict_raster(mosaic_512, tmp_path / "map.tif", OutOfMemoryAbove(model, 0),
                       card, options=PredictOptions(tile_size=256, batch_size=4))
    assert not (tmp_path / "map.tif").exists()
    assert not list(tmp_path.iterdir())


def test_other_runtime_errors_are_not_taken_for_out_of_memory(tmp_path, mosaic_512,
                                                              model_and_card):
    model, card = model_and_card

    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError("Expected all tensors to be on the same device")
    with pytest.raises(RuntimeError, match="same device"):
        predict_raster(mosaic_512, tmp_path / "map.tif", Broken(), card,
                       options=PredictOptions(tile_size=256))
