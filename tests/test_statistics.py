"""Green space per zone against hand-computed values; mask and stats CLI."""
import json

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from ugs_plugin.core.planning.zonal import zone_statistics

from conftest import cli, write_raster


@pytest.fixture()
def tiny(tmp_path):
    """10 x 10 px, 2 m pixels (4 m² each), origin (0, 20), EPSG:32630."""
    a = np.zeros((10, 10), np.uint8)
    a[1:3, 1:3] = 1   # 4 px patch
    a[2:7, 6] = 1     # 5 px bar...
    a[7, 7] = 1       # ...joined diagonally (8-connectivity): 6 px patch
    a[9, 0] = 1       # 1 px patch
    a[5, 2] = 255     # nodata
    return write_raster(tmp_path / "tiny.tif", a, crs="EPSG:32630",
                        transform=rasterio.transform.from_origin(0, 20, 2, 2),
                        nodata=255)


@pytest.mark.parametrize("strip_rows", [1, 3, 1024])
def test_zone_statistics_by_hand(tiny, strip_rows):
    with rasterio.open(tiny) as src:
        s = zone_statistics(src, box(0, 0, 20, 20), population=10, strip_rows=strip_rows)
        left = zone_statistics(src, box(0, 0, 10, 20), strip_rows=strip_rows)
    assert s.mapped_area == 99 * 4 and s.green_area == 11 * 4
    assert s.coverage == pytest.approx(11 / 99)
    assert s.patches == 3 and s.largest_patch_area == 24
    assert s.mean_patch_area == pytest.approx(44 / 3)
    assert s.green_per_person == pytest.approx(4.4)
    # Left half (columns 0-4): the 4 px patch and the 1 px patch.
    assert (left.mapped_area, left.green_area, left.patches) == (49 * 4, 5 * 4, 2)
    assert left.green_per_person is None


def test_algorithm_writes_zone_fields(qgis_app, tiny, tmp_path):
    import processing
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer
    zones = QgsVectorLayer("Polygon?crs=EPSG:32630&field=name:string&field=pop:integer",
                           "zones", "memory")
    feats = []
    for name, rect, pop in (("all", "POLYGON((0 0,20 0,20 20,0 20,0 0))", 10),
                            ("left", "POLYGON((0 0,10 0,10 20,0 20,0 0))", 0)):
        f = QgsFeature(zones.fields())
        f.setGeometry(QgsGeometry.fromWkt(rect))
        f.setAttributes([name, pop])
        feats.append(f)
    zones.dataProvider().addFeatures(feats)
    out = tmp_path / "zones.gpkg"
    processing.run("ugs:greenspacestatistics", {"INPUT": str(tiny), "ZONES": zones,
                                                "POPULATION_FIELD": "pop",
                                                "OUTPUT": str(out)})
    rows = {f["name"]: f for f in QgsVectorLayer(str(out), "z", "ogr").getFeatures()}
    assert rows["all"]["green_m2"] == 44 and rows["all"]["patches"] == 3
    assert rows["all"]["green_ratio"] == pytest.approx(11 / 99)
    assert rows["all"]["green_m2_per_person"] == pytest.approx(4.4)
    assert rows["left"]["patches"] == 2
    assert rows["left"]["green_m2_per_person"] in (None, "") or \
        str(rows["left"]["green_m2_per_person"]) == "NULL"


def test_cli_mask_and_stats(tiny, tmp_path):
    boundary = tmp_path / "b.geojson"
    boundary.write_text(json.dumps({"type": "FeatureCollection", "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32630"}},
        "features": [{"type": "Feature", "properties": {"id": "west"},
                      "geometry": box(0, 0, 10, 20).__geo_interface__}]}))
    masked = tmp_path / "masked.tif"
    proc = cli("mask", tiny, masked, "--boundary", boundary, "--json")
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(masked) as ds:
        data = ds.read(1)
    assert (data[:, 5:] == 255).all() and (data[:, :5] != 255).sum() == 49
    proc = cli("stats", tiny, boundary, "--id-field", "id", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)[0]
    assert row["zone"] == "west" and row["patches"] == 2 and row["green_m2"] == 20


def test_zones_load_as_a_coverage_choropleth(qgis_app, tiny, tmp_path):
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (QgsApplication, QgsFeature, QgsGeometry, QgsProcessingContext,
                           QgsProcessingFeedback, QgsProcessingOutputLayerDefinition,
                           QgsProject, QgsVectorLayer)
    zones = QgsVectorLayer("Polygon?crs=EPSG:32630", "zones", "memory")
    feats = []
    for wkt in ("POLYGON((0 0,10 0,10 20,0 20,0 0))",
                "POLYGON((10 0,20 0,20 20,10 20,10 0))"):
        f = QgsFeature()
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        feats.append(f)
    zones.dataProvider().addFeatures(feats)
    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()
    alg = QgsApplication.processingRegistry().createAlgorithmById(
        "ugs:greenspacestatistics")
    out = str(tmp_path / "zones.gpkg")
    results, ok = alg.run({"INPUT": str(tiny), "ZONES": zones,
                           "OUTPUT": QgsProcessingOutputLayerDefinition(out, project)},
                          context, feedback)
    assert ok
    handleAlgorithmResults(alg, context, feedback=feedback, parameters=results)
    loaded = [lyr for lyr in project.mapLayers().values() if lyr.source().startswith(out)]
    assert len(loaded) == 1
    renderer = loaded[0].renderer()
    assert renderer.type() == "graduatedSymbol" and renderer.classAttribute() == "green_ratio"
    project.removeAllMapLayers()
