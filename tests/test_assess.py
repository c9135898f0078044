"""Map vs reference polygons/points (engine and `python -m ugs_plugin assess`)."""
import json

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from ugs_plugin.core.accuracy.metrics import (assess_points, assess_polygons,
                                              ReferenceDataError)

from conftest import cli, SAMPLE_REFERENCE, write_raster

ORIGIN = (500000.0, 4400000.0)


@pytest.fixture()
def tiny_map(tmp_path):
    """4 x 4 map, 1 m pixels: left half green, one nodata pixel."""
    data = np.zeros((4, 4), np.uint8)
    data[:, :2] = 1
    data[0, 3] = 255
    transform = rasterio.transform.from_origin(*ORIGIN, 1.0, 1.0)
    return write_raster(tmp_path / "map.tif", data, crs="EPSG:32630",
                        transform=transform, nodata=255)


def cell_box(col0, row0, col1, row1):
    x0, y0 = ORIGIN
    return box(x0 + col0, y0 - row1, x0 + col1, y0 - row0)


def test_polygons_rasterized_on_the_map_grid(tiny_map):
    # Reference: columns 0-2 green (3 wide), column 3 other.
    cm = assess_polygons(tiny_map, [(cell_box(0, 0, 3, 4), 1), (cell_box(3, 0, 4, 4), 0)])
    # By hand: tp = 8 (cols 0-1), fn = 4 (col 2), tn = 3 (col 3 minus nodata), fp = 0
    assert cm.matrix.tolist() == [[3, 0], [4, 8]]


def test_conflicting_overlap_is_an_error(tiny_map):
    with pytest.raises(ReferenceDataError, match="conflicting classes"):
        assess_polygons(tiny_map, [(cell_box(0, 0, 3, 4), 1), (cell_box(2, 0, 4, 4), 0)])


def test_reference_outside_the_map_is_an_error(tiny_map):
    far = box(0, 0, 10, 10)
    with pytest.raises(ReferenceDataError, match="no reference polygon overlaps"):
        assess_polygons(tiny_map, [(far, 1)])
    with pytest.raises(ReferenceDataError, match="no polygons"):
        assess_polygons(tiny_map, [])


def test_points_sampled_at_their_locations(tiny_map):
    x0, y0 = ORIGIN
    points = [(x0 + 0.5, y0 - 0.5, 1), (x0 + 2.5, y0 - 1.5, 1), (x0 + 2.5, y0 - 2.5, 0),
              (x0 + 3.5, y0 - 0.5, 0),   # on nodata: not counted
              (x0 - 5, y0, 1)]           # outside the map: not counted
    assert assess_points(tiny_map, points).matrix.tolist() == [[1, 0], [1, 1]]


def test_cli_assess_json(tiny_map, tmp_path):
    geojson = tmp_path / "ref.geojson"
    feats = [{"type": "Feature", "properties": {"kind": v},
              "geometry": json.loads(json.dumps(g.__geo_interface__))}
             for g, v in ((cell_box(0, 0, 3, 4), "park"), (cell_box(3, 0, 4, 4), "0"))]
    geojson.write_text(json.dumps({"type": "FeatureCollection", "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32630"}},
        "features": feats}))
    proc = cli("assess", tiny_map, geojson, "--field", "kind", "--green-values", "park",
               "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["confusion_matrix"] == [[3, 0], [4, 8]]
    assert result["precision"] == 1.0 and result["recall"] == 8 / 12
    assert result["f1"] == pytest.approx(16 / 20) and result["overall_accuracy"] == 11 / 15
    # A value that is neither green nor 0 is an error, not a silent guess.
    bad = cli("assess", tiny_map, geojson, "--field", "kind")
    assert bad.returncode == 1 and "neither a green" in bad.stderr


def test_cli_assess_sample_scene_reference_polygons(tmp_path, model_and_card):
    """The real sample reference (EPSG:25830 GeoPackage) against a real map."""
    from conftest import SAMPLE_SCENE
    from ugs_plugin.core.config import PredictOptions
    from ugs_plugin.core.mapping.predict import predict_raster
    model, card = model_and_card
    out = tmp_path / "valencia.tif"
    predict_raster(SAMPLE_SCENE, out, model, card, options=PredictOptions())
    proc = cli("assess", out, SAMPLE_REFERENCE, "--json")  # "class": the default
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    with rasterio.open(out) as ds:
        assert sum(map(sum, result["confusion_matrix"])) == np.sum(ds.read(1) != 255)
    assert 0.3 < result["recall"] < 1  # parks hold paths and plazas too
