"""Green-space indicators by zone (3-30-300) against a hand-drawn scene
(tests/planner_scene.py): green cover, parks as 8-connected patches found across
strip borders, straight and road-network distances, residents, every layer in its
own CRS; through the core, Processing, qgis_process and the CLI."""
import csv
import json
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from shapely.geometry import box

import planner_scene as ps
from conftest import cli, write_raster
from ugs_plugin.core.errors import Cancelled, UgsError
from ugs_plugin.core.feedback import Recording
from ugs_plugin.core.vectors import VectorLayer
from ugs_plugin.core.workflows import indicators

POPULATION = {"b1": 10, "b2": 20, "b3": 30, "b4": 40, "b5": 0}


@pytest.fixture()
def class_map(tmp_path):
    return str(write_raster(tmp_path / "map.tif", ps.class_map(), crs=ps.MAP_CRS,
                            transform=ps.TRANSFORM, nodata=255))


def run(class_map, **kw):
    request = indicators.IndicatorsRequest(map=class_map, zones=ps.zones_layer(),
                                           id_field="name", **kw)
    return indicators.run(request, Recording())


@pytest.mark.parametrize("strip_rows", [50, 1024])
def test_cover_and_straight_access_by_hand(class_map, strip_rows):
    r = run(class_map, buildings=ps.buildings_layer(), strip_rows=strip_rows)
    west, east = r.zones
    # 290 mapped rows (10 nodata) x 250 columns per zone; P2 (4000 px) west, P1 east.
    assert west["mapped_m2"] == east["mapped_m2"] == 290 * 250
    assert west["green_cover"] == pytest.approx(4000 / 72500)
    assert east["green_cover"] == pytest.approx(6000 / 72500)
    assert west["below_cover_target"] == east["below_cover_target"] == 1
    # P1's two 0.3 ha blocks touch at one corner, across a strip border when strips
    # are 50 rows: one 0.6 ha park. P2 (0.4 ha) is too small.
    assert r.parks == 1
    for building, row in zip(ps.BUILDINGS.values(), r.buildings):
        assert row["distance_m"] == pytest.approx(building[1], abs=1e-3)
    assert [b["zone_id"] for b in r.buildings] == list(ps.ZONE_OF.values())
    # West: b1 99.5, b2 297.0 within; b3 305.0 beyond. East: b4, b5 (inside).
    assert (west["buildings"], west["buildings_within"]) == (3, 2)
    assert west["share_within"] == pytest.approx(2 / 3)
    assert west["mean_distance_m"] == pytest.approx(
        np.mean([d for (_, d), z in zip(ps.BUILDINGS.values(), ps.ZONE_OF.values())
                 if z == "west"]), abs=1e-3)
    assert (east["buildings"], east["buildings_within"], east["share_within"]) == \
        (2, 2, 1.0)
    assert [b["within"] for b in r.buildings] == [1, 1, 0, 1, 1]


def test_smaller_minimum_makes_the_small_patch_a_park(class_map):
    r = run(class_map, buildings=ps.buildings_layer(), min_park_ha=0.4)
    assert r.parks == 2
    distances = [b["distance_m"] for b in r.buildings]
    # P2 spans x 20-60, y -200..-100: b2 50.5 m below it, b3 (14.5, 79.5) away.
    assert distances[1] == pytest.approx(50.5)
    assert distances[2] == pytest.approx((14.5 ** 2 + 79.5 ** 2) ** 0.5)


def test_network_distance_exceeds_the_straight_line(class_map):
    r = run(class_map, buildings=ps.buildings_layer(), network=ps.roads_layer())
    b1, _, _, b4, b5 = r.buildings
    assert b1["straight_m"] == pytest.approx(99.5, abs=1e-3)
    assert b1["distance_m"] == pytest.approx(ps.B1_NETWORK, abs=1e-3)
    assert b1["within"] == 0          # 99.5 m straight, 310.7 m along the road
    assert b4["distance_m"] == pytest.approx(ps.B4_NETWORK, abs=1e-3)
    assert b5["distance_m"] == 0.0 and b5["within"] == 1
    assert r.zones[0]["buildings_within"] == 0 and r.distance_kind == "road network"


def test_residents_and_green_per_resident(class_map):
    r = run(class_map, buildings=ps.buildings_layer(POPULATION), population_field="pop")
    west, east = r.zones
    assert (west["residents"], west["residents_within"]) == (60, 30)
    assert west["share_residents_within"] == pytest.approx(0.5)
    assert west["green_m2_per_resident"] == pytest.approx(4000 / 60)
    assert east["green_m2_per_resident"] == pytest.approx(6000 / 40)


def test_park_layer_replaces_the_patches(class_map):
    # A 0.7 ha park around b3 and a 0.3 ha one; the map's patches are not used.
    x, y = ps.absolute(0, -70)
    parks = VectorLayer("parks", [(box(x, y, x + 100, y + 70), {}),
                                  (box(x + 400, y, x + 430, y + 100), {})],
                        CRS.from_string(ps.MAP_CRS).to_wkt(), ())
    r = run(class_map, buildings=ps.buildings_layer(), parks=parks)
    assert r.parks == 1 and "of 2 polygons" in r.park_source
    assert r.buildings[2]["distance_m"] == 0.0            # b3 inside it
    assert r.buildings[0]["distance_m"] == pytest.approx(
        ((200.5 - 100) ** 2 + (120.5 - 70) ** 2) ** 0.5)


def test_outputs_table_and_report(class_map, tmp_path):
    report, table = tmp_path / "r.html", tmp_path / "z.csv"
    run(class_map, buildings=ps.buildings_layer(), report=str(report), table=str(table),
        indicator="share_within")
    rows = list(csv.DictReader(table.open()))
    assert [r["id"] for r in rows] == ["west", "east"]
    assert float(rows[1]["share_within"]) == 1.0
    page = report.read_text()
    # A choropleth path per zone, bars for both charts, the method and its limits.
    assert page.count("<path ") == 2 and "30 %" in page
    assert "not the tree canopy" in page
    assert "west" in page and "<svg" in page and "straight line" in page


def test_cancel_writes_nothing(class_map, tmp_path):
    report = tmp_path / "r.html"
    request = indicators.IndicatorsRequest(
        map=class_map, zones=ps.zones_layer(), buildings=ps.buildings_layer(),
        report=str(report), strip_rows=50)
    with pytest.raises(Cancelled):
        indicators.run(request, Recording(cancel_after_progress=10))
    assert not report.exists()


def test_clear_errors(class_map, tmp_path):
    geographic = str(write_raster(tmp_path / "geo.tif", ps.class_map(), crs="EPSG:4326",
                                  transform=rasterio.transform.from_origin(-3, 40,
                                                                           1e-5, 1e-5)))
    with pytest.raises(UgsError, match="geographic CRS"):
        run(geographic)
    with pytest.raises(UgsError, match="needs a building layer"):
        run(class_map, indicator="share_within")
    with pytest.raises(UgsError, match="no field 'people'"):
        run(class_map, buildings=ps.buildings_layer(), population_field="people")
    with pytest.raises(UgsError, match="between 0 and 1"):
        run(class_map, cover_target=30)


@pytest.fixture()
def layers(tmp_path):
    return {"zones": ps.write_gpkg(tmp_path / "zones.gpkg", ps.zones_layer()),
            "buildings": ps.write_gpkg(tmp_path / "buildings.gpkg",
                                       ps.buildings_layer(POPULATION)),
            "roads": ps.write_gpkg(tmp_path / "roads.gpkg", ps.roads_layer())}


def test_algorithm_through_processing(qgis_app, class_map, layers, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer
    context = QgsProcessingContext()
    result = processing.run("ugs:greenspaceindicators", {
        "INPUT": class_map, "ZONES": layers["zones"], "ID_FIELD": "name",
        "BUILDINGS": layers["buildings"], "POPULATION_FIELD": "pop",
        "NETWORK": layers["roads"], "OUTPUT": str(tmp_path / "zones_out.gpkg"),
        "OUTPUT_BUILDINGS": str(tmp_path / "buildings_out.gpkg"),
        "OUTPUT_CSV": str(tmp_path / "z.csv"), "OUTPUT_HTML": str(tmp_path / "r.html")},
        context=context, feedback=QgsProcessingFeedback())
    zones = {f["name"]: f for f in QgsVectorLayer(result["OUTPUT"], "z").getFeatures()}
    assert zones["west"]["green_cover"] == pytest.approx(4000 / 72500)
    assert zones["west"]["buildings_within"] == 0           # along the road
    assert zones["east"]["share_residents_within"] == pytest.approx(1.0)
    buildings = {f["name"]: f for f in
                 QgsVectorLayer(result["OUTPUT_BUILDINGS"], "b").getFeatures()}
    assert buildings["b1"]["distance_m"] == pytest.approx(ps.B1_NETWORK, abs=1e-3)
    assert buildings["b1"]["straight_m"] == pytest.approx(99.5, abs=1e-3)
    assert buildings["b1"]["zone_id"] == "west" and buildings["b1"]["within"] == 0
    assert (tmp_path / "r.html").exists() and result["OUTPUT_HTML"].endswith("r.html")
    # An HTML output: QGIS lists the report in its Results Viewer.
    from qgis.core import QgsApplication
    alg = QgsApplication.processingRegistry().algorithmById("ugs:greenspaceindicators")
    assert alg.outputDefinition("OUTPUT_HTML").type() == "outputHtml"


def test_outputs_load_styled(qgis_app, class_map, layers):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    result = processing.runAndLoadResults("ugs:greenspaceindicators", {
        "INPUT": class_map, "ZONES": layers["zones"], "ID_FIELD": "name",
        "BUILDINGS": layers["buildings"], "OUTPUT": "TEMPORARY_OUTPUT",
        "OUTPUT_BUILDINGS": "TEMPORARY_OUTPUT"}, context=context,
        feedback=QgsProcessingFeedback())
    zones = QgsProject.instance().mapLayer(result["OUTPUT"])
    buildings = QgsProject.instance().mapLayer(result["OUTPUT_BUILDINGS"])
    assert zones.renderer().type() == "graduatedSymbol"
    assert zones.renderer().classAttribute() == "green_cover"
    assert buildings.renderer().type() == "categorizedSymbol"
    assert buildings.renderer().classAttribute() == "within"
    QgsProject.instance().removeAllMapLayers()


def test_qgis_process_runs_the_indicators(qgis_process_env, class_map, layers,
                                          tmp_path):
    report = tmp_path / "report.html"
    proc = subprocess.run(
        ["qgis_process.bin", "--json", "run", "ugs:greenspaceindicators", "--",
         f"INPUT={class_map}", f"ZONES={layers['zones']}", "ID_FIELD=name",
         f"BUILDINGS={layers['buildings']}", "MIN_PARK_HA=0.4",
         f"OUTPUT={tmp_path / 'z.gpkg'}", f"OUTPUT_HTML={report}"],
        env=qgis_process_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    assert results["OUTPUT_HTML"] == str(report) and report.exists()
    from osgeo import ogr
    ds = ogr.Open(results["OUTPUT"])
    rows = {f["name"]: f for f in ds.GetLayer(0)}
    # With 0.4 ha parks every western building is within 300 m straight.
    assert rows["west"]["buildings_within"] == 3


def test_cli_json(class_map, layers, tmp_path):
    proc = cli("indicators", class_map, layers["zones"], "--id-field", "name",
               "--buildings", layers["buildings"], "--network", layers["roads"],
               "--json", "--quiet", "--out-buildings", tmp_path / "b.gpkg")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    west = out["zones"][0]
    assert set(west) >= {"id", "green_cover", "buildings", "buildings_within",
                         "share_within", "mean_distance_m"}
    assert (west["id"], west["buildings"], west["buildings_within"]) == ("west", 3, 0)
    assert out["distance"] == "road network"
    assert (tmp_path / "b.gpkg").exists()
    bad = cli("indicators", class_map, layers["zones"], "--cover-target", "0.3")
    assert bad.returncode == 1 and "percentage" in bad.stderr


def test_footprints_are_measured_from_their_centroid(class_map):
    """Buildings as 10 m square footprints centred on the points: the same distances;
    an L-shaped footprint whose centroid falls outside it is measured from a point
    inside it instead."""
    from shapely.geometry import Polygon
    points = ps.buildings_layer()
    squares = VectorLayer("footprints", [(p.buffer(5, cap_style=3), a)
                                         for p, a in points.features],
                          points.crs, points.fields)
    r = run(class_map, buildings=squares)
    for building, row in zip(ps.BUILDINGS.values(), r.buildings):
        assert row["distance_m"] == pytest.approx(building[1], abs=0.05)
    from ugs_plugin.core.planning.access import home_point
    ell = Polygon([(0, 0), (10, 0), (10, 1), (1, 1), (1, 10), (0, 10)])
    assert not ell.contains(ell.centroid) and ell.contains(home_point(ell))
