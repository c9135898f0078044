"""python -m ugs_plugin, headless."""
import json

import numpy as np
import rasterio

from ugs_plugin import plugin_version

from conftest import cli, naip_mosaic, naip_path, write_raster



def test_version_comes_from_metadata():
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == plugin_version() != "unknown"


def test_extract_writes_map_probability_and_quicklook(tmp_path):
    src = naip_path("palm_springs_2020_8")
    proc = cli("extract", src, tmp_path / "map.tif", "--probability", tmp_path / "p.tif",
               "--quicklook", tmp_path / "ql.png", "--json", "--batch-size", "2")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    with rasterio.open(tmp_path / "map.tif") as ds:
        classes = ds.read(1)
    assert summary["green_fraction"] == np.mean(classes == 1)
    with rasterio.open(tmp_path / "ql.png") as ql:
        assert ql.count == 3 and ql.width == 256
    assert (tmp_path / "p.tif").exists()


def test_extract_with_boundary_file(tmp_path):
    """A GeoJSON boundary in EPSG:4326 covering the top half of a UTM raster."""
    from rasterio.warp import transform_geom
    src = naip_path("claremont_2020_7")
    with rasterio.open(src) as ds:
        b, crs = ds.bounds, ds.crs
    mid = (b.top + b.bottom) / 2
    top_half = {"type": "Polygon", "coordinates": [[
        (b.left - 20, mid), (b.right + 20, mid), (b.right + 20, b.top + 20),
        (b.left - 20, b.top + 20), (b.left - 20, mid)]]}
    geojson = tmp_path / "boundary.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {},
         "geometry": transform_geom(crs, "EPSG:4326", top_half)}]}))
    proc = cli("extract", src, tmp_path / "map.tif", "--boundary", geojson, "--quiet")
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(tmp_path / "map.tif") as ds:
        classes = ds.read(1)
    assert (classes[140:] == 255).all() and (classes[:116] != 255).all()


def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    one_band = write_raster(tmp_path / "one.tif", naip_mosaic(["claremont_2020_7"], 1)[:1])
    proc = cli("extract", one_band, tmp_path / "out.tif")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "band mapping" in last
    assert not (tmp_path / "out.tif").exists()
    proc = cli("extract", tmp_path / "missing.tif", tmp_path / "out.tif")
    assert proc.returncode == 1 and "missing.tif does not exist" in proc.stderr


def test_diagnostics_report_names_versions_engine_and_models():
    proc = cli("diagnostics")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f"UGS plugin {plugin_version()}" in text
    import numpy
    assert f"numpy: {numpy.__version__}" in text
    assert "engine for device auto: onnxruntime" in text
    assert "model ugsnet_light.pt: light, tile 512, hash ok, onnx ugsnet_light.onnx" \
        in text
