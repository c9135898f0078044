"""Where to mark next: the uncertainty raster of the extraction and the suggested
squares (spread over kinds of surface, where the model is least sure or two rounds
disagree), through the CLI and Processing."""
import json

import numpy as np
import rasterio
from shapely.geometry import box

from conftest import REPO, cli, naip_mosaic, write_raster
from ugs_plugin.core.learning.suggest import pick_cells


def scene(tmp_path):
    return write_raster(tmp_path / "scene.tif",
                        naip_mosaic(["claremont_2020_7", "claremont_2020_8",
                                     "chico_2020_3", "long_beach_2020_5"], 2)[:3])


def test_uncertainty_is_one_minus_the_margin_between_the_classes(tmp_path):
    image = scene(tmp_path)
    done = cli("extract", image, tmp_path / "map.tif", "--probability",
               tmp_path / "p.tif", "--uncertainty", tmp_path / "u.tif", "--quiet")
    assert done.returncode == 0, done.stderr
    with rasterio.open(tmp_path / "p.tif") as p, rasterio.open(tmp_path / "u.tif") as u:
        prob, unsure = p.read(1).astype(int), u.read(1).astype(int)
        assert u.nodata == 255 and "uncertainty" in u.descriptions[0]
    valid = prob != 255
    assert np.abs(unsure[valid] - (100 - np.abs(2 * prob[valid] - 100))).max() <= 1
    assert unsure[valid].min() < 10 and unsure[valid].max() > 60  # sure and unsure parts
    same = cli("extract", image, tmp_path / "m2.tif", "--uncertainty", tmp_path / "m2.tif")
    assert same.returncode == 1 and "also an input" in same.stderr


def test_suggested_squares_are_spread_and_unlabelled(tmp_path):
    image = scene(tmp_path)
    done = cli("suggest", image, tmp_path / "places.gpkg", "--count", "6", "--json",
               "--quiet", "--previous-model", REPO / "models" / "ugsnet_full.pt")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["suggestions"]
    assert [r["rank"] for r in rows] == list(range(1, 7))
    squares = [box(*r["bounds"]) for r in rows]
    assert all(abs(s.area - 16 * 16) < 1 for s in squares)
    # No two side by side: at least three 32 px cells apart.
    assert min(a.distance(b) for i, a in enumerate(squares) for b in squares[i + 1:]) \
        >= 2 * 32 - 16
    assert all(r["disagreement"] is not None for r in rows)
    from osgeo import ogr
    ds = ogr.Open(str(tmp_path / "places.gpkg"))  # the layer lives as long as it
    layer = ds.GetLayer(0)
    assert layer.GetFeatureCount() == 6
    assert all(f.IsFieldNull("class") for f in layer)


def test_picks_cover_the_kinds_of_surface_not_only_the_most_uncertain_one():
    """Cells of two looks: the most uncertain all look alike (one kind of surface);
    the picks still take the other kind too."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        dark = i < 20
        unsure = 0.9 if dark else 0.6 + 0.01 * i / 40
        rows.append((i // 8, (i % 8) * 4, unsure, np.nan,
                     *(rng.normal(0.2 if dark else 0.7, 0.01, 3)), 0.5))
    stats = np.array(rows)
    picked = pick_cells(stats, 4, min_gap=1)
    looks = {bool(stats[i, 4] < 0.45) for i in picked}
    assert len(picked) == 4 and looks == {True, False}
    by_uncertainty = np.argsort(-stats[:, 2])[:4]
    assert {bool(stats[i, 4] < 0.45) for i in by_uncertainty} == {True}


def test_processing_suggests_places(processing, tmp_path):
    image = scene(tmp_path)
    result = processing.run("ugs:suggestplacestomark", {
        "INPUT": str(image), "COUNT": 3, "DEVICE": 1,
        "OUTPUT": str(tmp_path / "places.gpkg")})
    assert result["COUNT_WRITTEN"] == 3
    from osgeo import ogr
    ds = ogr.Open(str(tmp_path / "places.gpkg"))
    layer = ds.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName()
             for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert names == ["rank", "uncertainty", "disagreement", "class"]
    assert layer.GetFeatureCount() == 3
