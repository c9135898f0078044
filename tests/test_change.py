"""Green-space change between two class maps against hand-made changes: the change
raster, per-zone gain / loss / net and patches, a second map on another grid, the
fronts (Processing, qgis_process, CLI) and clear errors."""
import json
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import planner_scene as ps
from conftest import cli, write_raster
from ugs_plugin.core.errors import Cancelled, UgsError
from ugs_plugin.core.feedback import Recording
from ugs_plugin.core.workflows import change


def after_map():
    """Map A with hand-made changes: 1500 px of P1 lost (east), 200 + 4 px gained in
    two patches (west), and one 2 x 2 block of loss in P2 (west)."""
    b = ps.class_map()
    b[100:150, 300:330] = 0
    b[250:260, 100:120] = 1
    b[270:272, 200:202] = 1
    b[120:122, 20:22] = 0
    return b


@pytest.fixture()
def maps(tmp_path):
    a = write_raster(tmp_path / "a.tif", ps.class_map(), crs=ps.MAP_CRS,
                     transform=ps.TRANSFORM, nodata=255)
    b = write_raster(tmp_path / "b.tif", after_map(), crs=ps.MAP_CRS,
                     transform=ps.TRANSFORM, nodata=255)
    return str(a), str(b)


@pytest.mark.parametrize("strip_rows", [50, 1024])
def test_change_by_hand(maps, tmp_path, strip_rows):
    out = tmp_path / "change.tif"
    r = change.run(change.ChangeRequest(*maps, str(out), zones=ps.zones_layer(),
                                        id_field="name", strip_rows=strip_rows))
    with rasterio.open(out) as ds:
        codes = ds.read(1)
        assert ds.colormap(1)[3][:3] == (230, 0, 0) and ds.nodata == 255
    expected = np.bincount(codes.ravel(), minlength=256)
    assert expected[2] == 204 and expected[3] == 1504 and expected[255] == 5000
    assert codes[120, 20] == 3 and codes[255, 110] == 2 and codes[150, 400] == 1
    assert r.totals["gain_m2"] == 204 and r.totals["loss_m2"] == 1504
    assert r.totals["net_m2"] == -1300 and not r.resampled
    west, east = r.zones
    assert (west["gain_m2"], west["loss_m2"], west["net_m2"]) == (204, 4, 200)
    assert (west["gain_patches"], west["loss_patches"]) == (2, 1)
    assert (east["green_a_m2"], east["green_b_m2"], east["loss_patches"]) == \
        (6000, 4500, 1)


def test_second_map_on_another_grid_is_resampled(maps, tmp_path):
    # B at 2 m pixels over a larger extent: nearest neighbour puts each 2 m pixel
    # on the four 1 m pixels it covers (all changes are on even rows and columns).
    big = np.zeros((200, 300), np.uint8)
    big[25:175, 25:275] = after_map()[::2, ::2]
    b = write_raster(tmp_path / "b2.tif", big, crs=ps.MAP_CRS, nodata=255,
                     transform=from_origin(ps.X0 - 50, ps.Y0 + 50, 2.0, 2.0))
    feedback = Recording()
    r = change.run(change.ChangeRequest(maps[0], str(b), str(tmp_path / "c.tif")),
                   feedback)
    assert r.resampled and any("nearest neighbour" in m for m in feedback.messages)
    assert r.totals["gain_m2"] == 204 and r.totals["loss_m2"] == 1504


def test_cancel_and_errors(maps, tmp_path):
    out = tmp_path / "c.tif"
    with pytest.raises(Cancelled):
        change.run(change.ChangeRequest(*maps, str(out), strip_rows=50),
                   Recording(cancel_after_progress=20))
    assert not out.exists()
    probability = write_raster(tmp_path / "p.tif",
                               (np.random.default_rng(0).random((300, 500)) * 100)
                               .astype(np.uint8), crs=ps.MAP_CRS, transform=ps.TRANSFORM)
    with pytest.raises(UgsError, match="values other than 0, 1 and 255"):
        change.run(change.ChangeRequest(maps[0], str(probability), str(out)))
    elsewhere = write_raster(tmp_path / "far.tif", ps.class_map(), crs=ps.MAP_CRS,
                             transform=from_origin(0, 100, 1, 1), nodata=255)
    with pytest.raises(UgsError, match="do not overlap"):
        change.run(change.ChangeRequest(maps[0], str(elsewhere), str(out)))
    with pytest.raises(UgsError, match="also an input"):
        change.run(change.ChangeRequest(maps[0], maps[1], maps[1]))
    assert not out.exists()


def test_algorithm_and_report(qgis_app, maps, tmp_path):
    import processing
    from qgis.core import QgsProject, QgsVectorLayer
    zones = ps.write_gpkg(tmp_path / "zones.gpkg", ps.zones_layer())
    result = processing.runAndLoadResults("ugs:greenspacechange", {
        "MAP_A": maps[0], "MAP_B": maps[1], "ZONES": zones, "ID_FIELD": "name",
        "OUTPUT": str(tmp_path / "c.tif"), "OUTPUT_ZONES": str(tmp_path / "cz.gpkg"),
        "OUTPUT_HTML": str(tmp_path / "c.html")})
    assert result["NET_M2"] == -1300 and result["GAIN_M2"] == 204
    rows = {f["name"]: f for f in QgsVectorLayer(result["OUTPUT_ZONES"]).getFeatures()}
    assert rows["east"]["net_m2"] == -1500 and rows["west"]["gain_patches"] == 2
    loaded = [l for l in QgsProject.instance().mapLayers().values()
              if l.source() == result["OUTPUT"]]
    assert loaded and loaded[0].renderer().type() == "paletted"
    assert [c.label for c in loaded[0].renderer().classes()] == [
        "Stable other", "Stable green", "Gain", "Loss"]
    page = (tmp_path / "c.html").read_text()
    assert "<svg" in page and page.count("<path ") == 2 and "same season" in page
    QgsProject.instance().removeAllMapLayers()


def test_qgis_process_and_cli(qgis_process_env, maps, tmp_path):
    proc = subprocess.run(
        ["qgis_process.bin", "--json", "run", "ugs:greenspacechange", "--",
         f"MAP_A={maps[0]}", f"MAP_B={maps[1]}", f"OUTPUT={tmp_path / 'q.tif'}"],
        env=qgis_process_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    assert results["LOSS_M2"] == 1504 and (tmp_path / "q.tif").exists()
    zones = ps.write_gpkg(tmp_path / "zones.gpkg", ps.zones_layer())
    done = cli("change", *maps, tmp_path / "c.tif", "--zones", zones, "--id-field",
               "name", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["gain_m2"] == 204 and out["zones"][1]["id"] == "east"
    assert out["zones"][1]["net_m2"] == -1500
