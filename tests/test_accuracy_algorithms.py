"""Reference layer, stratified points and accuracy assessment through Processing."""
import csv
import json
import subprocess

import numpy as np
import pytest
import rasterio

from conftest import SAMPLE_REFERENCE, SAMPLE_SCENE, cli, write_raster

ORIGIN = (500000.0, 4400000.0)



@pytest.fixture()
def class_map(tmp_path):
    """100 x 100 map at 2 m: the left quarter (25 columns) green, a nodata corner."""
    data = np.zeros((100, 100), np.uint8)
    data[:, :25] = 1
    data[:5, 95:] = 255
    transform = rasterio.transform.from_origin(*ORIGIN, 2.0, 2.0)
    return write_raster(tmp_path / "map.tif", data, crs="EPSG:32630",
                        transform=transform, nodata=255)


def memory_layer(kind, features, crs="EPSG:32630", fields="class:integer"):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer
    layer = QgsVectorLayer(f"{kind}?crs={crs}&field={fields}", "ref", "memory")
    feats = []
    for wkt, attrs in features:
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        f.setAttributes(list(attrs))
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return layer


def rect(col0, row0, col1, row1, size=2.0):
    x0, y0 = ORIGIN
    a, b, c, d = x0 + col0 * size, y0 - row1 * size, x0 + col1 * size, y0 - row0 * size
    return f"POLYGON(({a} {b},{c} {b},{c} {d},{a} {d},{a} {b}))"


def test_create_reference_layer_is_ready_to_digitize(processing, tmp_path):
    from qgis.core import QgsVectorLayer
    out = tmp_path / "reference.gpkg"
    processing.run("ugs:createreferencelayer", {"CRS": "EPSG:25830",
                                                "OUTPUT": str(out)})
    layer = QgsVectorLayer(str(out), "ref", "ogr")
    assert layer.isValid() and layer.featureCount() == 0
    assert layer.crs().authid() == "EPSG:25830" and layer.geometryType() == 2
    setup = layer.editorWidgetSetup(layer.fields().indexOf("class"))
    assert setup.type() == "ValueMap"  # stored in the GeoPackage as default style
    values = {list(d.values())[0] for d in setup.config()["map"]}
    assert values == {"1", "0"}
    check = layer.editorWidgetSetup(layer.fields().indexOf("check"))
    assert check.type() == "CheckBox" and check.config()["CheckedState"] == "1"
    assert layer.renderer().type() == "categorizedSymbol"


def test_polygon_assessment_with_hand_computed_matrix(processing, class_map, tmp_path):
    # Reference: columns 0-29 green, 30-99 other (rows 10-89 only).
    ref = memory_layer("Polygon", [(rect(0, 10, 30, 90), [1]),
                                   (rect(30, 10, 100, 90), [0])])
    result = processing.run("ugs:assessaccuracy", {
        "INPUT": str(class_map), "REFERENCE": ref, "FIELD": "class",
        "OUTPUT_TABLE": str(tmp_path / "matrix.gpkg"),
        "OUTPUT_CSV": str(tmp_path / "matrix.csv"),
        "OUTPUT_HTML": str(tmp_path / "report.html")})
    # By hand over 80 rows: tp 80*25, fn 80*5, tn 80*70, fp 0.
    tp, fn, tn = 2000, 400, 5600
    assert result["N"] == tp + fn + tn
    assert result["OVERALL_ACCURACY"] == pytest.approx((tp + tn) / 8000)
    assert result["PRECISION"] == 1.0 and result["RECALL"] == pytest.approx(tp / 2400)
    assert result["F1"] == pytest.approx(2 * tp / (2 * tp + fn))
    assert result["IOU"] == pytest.approx(tp / (tp + fn))
    with open(tmp_path / "matrix.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["reference"], int(r["map_other"]), int(r["map_green"])) for r in rows] \
        == [("other", tn, 0), ("green space", fn, tp)]
    assert float(rows[1]["map_green_area"]) == tp * 4.0  # 2 m pixels
    html = (tmp_path / "report.html").read_text()
    assert "Confusion matrix" in html and "<svg" in html and "5,600" in html
    from qgis.core import QgsVectorLayer
    table = QgsVectorLayer(result["OUTPUT_TABLE"], "t", "ogr")
    assert table.featureCount() == 2


def test_stratified_points_and_stratified_estimates(processing, class_map, tmp_path):
    from qgis.core import QgsVectorLayer
    out = tmp_path / "points.gpkg"
    res = processing.run("ugs:stratifiedsample", {
        "INPUT": str(class_map), "N_GREEN": 10, "N_OTHER": 10, "SEED": 7,
        "OUTPUT": str(out)})
    assert res["POINTS"] == 20
    layer = QgsVectorLayer(str(out), "pts", "ogr")
    with rasterio.open(class_map) as ds:
        data = ds.read(1)
        n_green, n_other = int(np.sum(data == 1)), int(np.sum(data == 0))
        feats = sorted(layer.getFeatures(), key=lambda f: f["id"])
        values = [v[0] for v in ds.sample([(f.geometry().asPoint().x(),
                                            f.geometry().asPoint().y()) for f in feats])]
    assert [f["stratum"] for f in feats] == values  # each point on its stratum
    assert {f["stratum"]: f["stratum_pixels"] for f in feats} == {1: n_green, 0: n_other}
    # Same seed, same points.
    again = processing.run("ugs:stratifiedsample", {
        "INPUT": str(class_map), "N_GREEN": 10, "N_OTHER": 10, "SEED": 7,
        "OUTPUT": str(tmp_path / "again.gpkg")})
    same = QgsVectorLayer(again["OUTPUT"], "p", "ogr")
    assert sorted(f.geometry().asWkt() for f in same.getFeatures()) == \
        sorted(f.geometry().asWkt() for f in feats)

    # Label: 8 of 10 green points really green, 9 of 10 other points really other.
    layer.startEditing()
    green_seen = other_seen = 0
    for f in feats:
        if f["stratum"] == 1:
            green_seen += 1
            label = 1 if green_seen <= 8 else 0
        else:
            other_seen += 1
            label = 0 if other_seen <= 9 else 1
        layer.changeAttributeValue(f.id(), layer.fields().indexOf("class"), label)
    assert layer.commitChanges()
    result = processing.run("ugs:assessaccuracy", {
        "INPUT": str(class_map), "REFERENCE": str(out), "FIELD": "class",
        "OUTPUT_TABLE": "TEMPORARY_OUTPUT", "OUTPUT_HTML": str(tmp_path / "r.html")})
    w_green = n_green / (n_green + n_other)
    assert result["OA_STRATIFIED"] == pytest.approx(w_green * 0.8 + (1 - w_green) * 0.9)
    area = (w_green * 0.8 + (1 - w_green) * 0.1) * (n_green + n_other) * 4.0
    assert result["GREEN_AREA_ESTIMATE"] == pytest.approx(area)
    assert result["GREEN_AREA_SE"] > 0
    assert result["N"] == 20 and result["OVERALL_ACCURACY"] == pytest.approx(17 / 20)
    assert "Stratified estimates" in (tmp_path / "r.html").read_text()


def test_sample_size_from_target_standard_error(processing, class_map, tmp_path):
    from ugs_plugin.core.accuracy.metrics import allocate, sample_size
    res = processing.run("ugs:stratifiedsample", {
        "INPUT": str(class_map), "TARGET_SE": 0.02, "MIN_PER_STRATUM": 30,
        "OUTPUT": str(tmp_path / "p.gpkg")})
    counts = {1: 2500, 0: 7500 - 25}
    total = sum(counts.values())
    n = sample_size({k: v / total for k, v in counts.items()}, {1: 0.85, 0: 0.95},
                    0.02, total)
    assert res["POINTS"] == sum(allocate(n, counts, 30).values())


def test_both_fronts_size_the_sample_from_the_expected_accuracies(processing, class_map,
                                                                   tmp_path):
    import json
    params = {"INPUT": str(class_map), "TARGET_SE": 0.02, "UA_GREEN": 0.7,
              "UA_OTHER": 0.9, "MIN_PER_STRATUM": 30, "OUTPUT": str(tmp_path / "p.gpkg")}
    lower = processing.run("ugs:stratifiedsample", params)["POINTS"]
    default = processing.run("ugs:stratifiedsample", dict(
        params, UA_GREEN=0.85, UA_OTHER=0.95, OUTPUT=str(tmp_path / "d.gpkg")))["POINTS"]
    assert lower > default  # less accurate maps need more points
    proc = cli("sample", class_map, tmp_path / "c.gpkg", "--target-se", "0.02",
               "--ua-green", "0.7", "--ua-other", "0.9", "--min-per-stratum", "30",
               "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["points"] == lower


@pytest.mark.parametrize("case", ["conflict", "empty", "outside", "values"])
def test_bad_reference_data_is_a_clear_error(processing, class_map, tmp_path, case):
    from qgis.core import QgsProcessingException
    layers = {
        "conflict": memory_layer("Polygon", [(rect(0, 0, 30, 50), [1]),
                                             (rect(20, 0, 60, 50), [0])]),
        "empty": memory_layer("Polygon", []),
        "outside": memory_layer("Polygon", [(rect(500, 500, 600, 600), [1])]),
        "values": memory_layer("Polygon", [(rect(0, 0, 30, 50), ["park"])],
                               fields="class:string"),
    }
    expected = {"conflict": "conflicting classes", "empty": "no features",
                "outside": "no reference polygon overlaps", "values": "neither a green"}
    with pytest.raises(QgsProcessingException, match=expected[case]):
        processing.run("ugs:assessaccuracy", {
            "INPUT": str(class_map), "REFERENCE": layers[case], "FIELD": "class",
            "OUTPUT_TABLE": "TEMPORARY_OUTPUT",
            "OUTPUT_HTML": str(tmp_path / "r.html")})
    assert not (tmp_path / "r.html").exists()


def test_qgis_process_assesses_the_sample_scene(qgis_process_env, processing, tmp_path):
    mapped = processing.run("ugs:extracturbangreenspace", {
        "INPUT": str(SAMPLE_SCENE), "OUTPUT": str(tmp_path / "valencia.tif")})["OUTPUT"]
    report = tmp_path / "report.html"
    proc = subprocess.run(
        ["qgis_process.bin", "--json", "run", "ugs:assessaccuracy", "--",
         f"INPUT={mapped}", f"REFERENCE={SAMPLE_REFERENCE}", "FIELD=class",
         "OUTPUT_TABLE=TEMPORARY_OUTPUT", f"OUTPUT_HTML={report}"],
        env=qgis_process_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    with rasterio.open(mapped) as ds:
        assert results["N"] == int(np.sum(ds.read(1) != 255))
    assert 0 < results["F1"] < 1 and report.exists()


def test_boundary_restricts_the_assessment(processing, class_map, tmp_path):
    ref = memory_layer("Polygon", [(rect(0, 10, 30, 90), [1]),
                                   (rect(30, 10, 100, 90), [0])])
    boundary = memory_layer("Polygon", [(rect(0, 0, 50, 100), [0])])
    result = processing.run("ugs:assessaccuracy", {
        "INPUT": str(class_map), "REFERENCE": ref, "FIELD": "class",
        "BOUNDARY": boundary, "OUTPUT_TABLE": "TEMPORARY_OUTPUT",
        "OUTPUT_HTML": str(tmp_path / "r.html")})
    # Columns 0-49 of rows 10-89: tp 80*25, fn 80*5, tn 80*20.
    assert result["N"] == 4000
    assert result["RECALL"] == pytest.approx(2000 / 2400)
    assert result["OVERALL_ACCURACY"] == pytest.approx(3600 / 4000)


def test_reference_without_green_reports_undefined_recall(processing, class_map, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Recorder(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, text):  # noqa: N802
            self.warnings.append(text)

    ref = memory_layer("Polygon", [(rect(0, 10, 100, 90), [0])])
    feedback = Recorder()
    result = processing.run("ugs:assessaccuracy", {
        "INPUT": str(class_map), "REFERENCE": ref, "FIELD": "class",
        "OUTPUT_TABLE": "TEMPORARY_OUTPUT", "OUTPUT_HTML": str(tmp_path / "r.html")},
        feedback=feedback)
    assert result["RECALL"] is None and result["F1"] == 0.0 and result["PRECISION"] == 0.0
    assert any("recall of green space is undefined" in w for w in feedback.warnings)
    assert "undefined" in (tmp_path / "r.html").read_text()


def test_report_is_an_html_output_for_the_results_viewer(processing):
    from qgis.core import QgsApplication, QgsProcessingOutputHtml
    alg = QgsApplication.processingRegistry().createAlgorithmById("ugs:assessaccuracy")
    assert isinstance(alg.outputDefinition("OUTPUT_HTML"), QgsProcessingOutputHtml)
