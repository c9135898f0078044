"""Where to mark next: the uncertainty raster of the extraction and the suggested
squares (spread over kinds of surface, where the model is least sure or two rounds
disagree), through the CLI and Processing."""
import json

import numpy as np
import rasterio
from shapely.geometry import box

from conftest import REPO, cli, naip_mosaic, write_raster
from ugs_plugin.core.learning.suggest import pick_cells, pick_checks


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
    done = cli("suggest", image, tmp_path / "places.gpkg", "--count", "6", "--checks",
               "4", "--json", "--quiet", "--previous-model",
               REPO / "models" / "ugsnet_full.pt")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["suggestions"]
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert [r["check"] for r in rows] == [False] * 6 + [True] * 4
    squares = [box(*r["bounds"]) for r in rows]
    assert all(abs(s.area - 16 * 16) < 1 for s in squares)
    # No two side by side, check squares included: at least three 32 px cells apart.
    assert min(a.distance(b) for i, a in enumerate(squares) for b in squares[i + 1:]) \
        >= 2 * 32 - 16
    assert all(r["disagreement"] is not None for r in rows)
    from osgeo import ogr
    ds = ogr.Open(str(tmp_path / "places.gpkg"))  # the layer lives as long as it
    layer = ds.GetLayer(0)
    assert layer.GetFeatureCount() == 10
    assert all(f.IsFieldNull("class") for f in layer)
    assert sorted(f.GetField("check") for f in layer) == [0] * 6 + [1] * 4
    del layer, ds
    # Finetune takes the marked layer as it is: its check squares hold out.
    ds = ogr.Open(str(tmp_path / "places.gpkg"), 1)
    layer = ds.GetLayer(0)
    for f in layer:
        f.SetField("class", 1 if f.GetField("rank") % 2 else 0)
        assert layer.SetFeature(f) == 0
    del layer, ds
    tuned = cli("finetune", image, tmp_path / "places.gpkg", tmp_path / "ft.pt",
                "--iterations", "2", "--device", "cpu", "--json")
    assert tuned.returncode == 0, tuned.stderr
    summary = json.loads(tuned.stdout)
    assert summary["holdout_from"] == "check marks"
    assert (summary["train_polygons"], summary["holdout_polygons"]) == (6, 4)


def test_check_squares_are_a_stratified_random_draw_apart_from_the_guided_ones():
    """Half in cells the map calls green, half in the others, alternately; none near
    a guided pick or another check; not the most uncertain cells; another seed,
    another draw."""
    rng = np.random.default_rng(1)
    rows = [(r, c, rng.uniform(0, 1), np.nan, *rng.uniform(0, 1, 3),
             float(r < 10)) for r in range(40) for c in range(40)]
    stats = np.array(rows)
    guided = pick_cells(stats, 5)
    checks = pick_checks(stats, 8, guided, seed=0)
    assert len(checks) == 8 and not set(checks) & set(guided)
    assert [bool(stats[i, 7] > 0.5) for i in checks] == [True, False] * 4
    cells = [(stats[i, 0], stats[i, 1]) for i in guided + checks]
    assert min(max(abs(a[0] - b[0]), abs(a[1] - b[1]))
               for n, a in enumerate(cells) for b in cells[n + 1:]) >= 3
    assert np.mean(stats[checks, 2]) < np.mean(stats[guided, 2])
    assert pick_checks(stats, 8, guided, seed=1) != checks
    assert pick_checks(stats, 8, guided, seed=0) == checks
    # One stratum used up: the other gives the rest.
    few_green = stats[(stats[:, 7] < 0.5) | (np.arange(len(stats)) == 0)]
    picked = pick_checks(few_green, 4)
    assert len(picked) == 4 and sum(few_green[i, 7] > 0.5 for i in picked) == 1


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
        "INPUT": str(image), "COUNT": 3, "CHECKS": 2, "DEVICE": 1,
        "OUTPUT": str(tmp_path / "places.gpkg")})
    assert result["COUNT_WRITTEN"] == 5
    from osgeo import ogr
    ds = ogr.Open(str(tmp_path / "places.gpkg"))
    layer = ds.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName()
             for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert names == ["rank", "uncertainty", "disagreement", "check", "class"]
    assert [f.GetField("check") for f in layer] == [0, 0, 0, 1, 1]
