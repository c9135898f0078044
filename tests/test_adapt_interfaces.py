"""ugs:adapttoregion through the real Processing framework, and `python -m ugs_plugin
adapt`, on the bundled Valencia scene with the shipped source sample."""
import json
import subprocess

import numpy as np
import pytest
import rasterio
import torch

from conftest import REPO, SAMPLE_REFERENCE, SAMPLE_SCENE, cli

with rasterio.open(SAMPLE_SCENE) as _src:
    SCENE_BOUNDS = _src.bounds
# A 600 m square in the scene's south-west, in metres of EPSG:25830.
REGION = (SCENE_BOUNDS.left + 200, SCENE_BOUNDS.bottom + 200,
          SCENE_BOUNDS.left + 800, SCENE_BOUNDS.bottom + 800)


def region_layer(crs="EPSG:4326", rect=REGION):
    """A memory polygon layer with the region, reprojected to ``crs``."""
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                           QgsFeature, QgsGeometry, QgsProject, QgsRectangle,
                           QgsVectorLayer)
    geometry = QgsGeometry.fromRect(QgsRectangle(*rect))
    geometry.transform(QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:25830"), QgsCoordinateReferenceSystem(crs),
        QgsProject.instance()))
    layer = QgsVectorLayer(f"Polygon?crs={crs}", "region", "memory")
    feature = QgsFeature()
    feature.setGeometry(geometry)
    layer.dataProvider().addFeatures([feature])
    return layer


def params(tmp_path, **extra):
    return {"INPUT": str(SAMPLE_SCENE), "REGION": region_layer(), "ITERATIONS": 3,
            "DEVICE": 1, "SEED": 0, "OUTPUT": str(tmp_path / "adapted.pt"), **extra}


def test_algorithm_writes_model_card_and_both_maps(qgis_app, tmp_path):
    import processing
    from ugs_plugin.core.model.files import load_model
    result = processing.run("ugs:adapttoregion", params(
        tmp_path, OUTPUT_ADAPTED=str(tmp_path / "adapted.tif"),
        OUTPUT_BASE=str(tmp_path / "base.tif")))
    card = json.loads((tmp_path / "adapted.json").read_text())
    info = card["adaptation"]
    assert card["parent_model"]["path"] == "bundled (ugsnet_light.pt)"
    assert card["variant"] == "light" and card["validation"] is None
    assert info["iterations"] == 3 and info["region"]["crs"] == "EPSG:25830"
    assert info["region"]["bounds"] == pytest.approx(REGION, abs=1.0)
    assert info["region"]["area_m2"] == pytest.approx(600 * 600, rel=0.01)
    assert info["raster"] == str(SAMPLE_SCENE.resolve())
    assert info["source_tiles"] == 58 and info["source_pixel_size_m"] == pytest.approx(0.6)
    assert set(info["losses_last"]) == {"seg", "adv", "disc"}
    assert result["DISC_LOSS_LAST"] == info["losses_last"]["disc"]
    adapted, _ = load_model(result["OUTPUT"], "cpu")
    base, _ = load_model(None, "cpu")
    assert any(not torch.equal(v, base.state_dict()[k])
               for k, v in adapted.state_dict().items() if v.dtype.is_floating_point)
    for key in ("OUTPUT_ADAPTED", "OUTPUT_BASE"):
        with rasterio.open(result[key]) as out:
            data = out.read(1)
            assert out.crs.to_epsg() == 25830
            assert (out.bounds.left, out.bounds.bottom) == pytest.approx(REGION[:2],
                                                                         abs=1.0)
            assert out.width == pytest.approx(600, abs=2)
        inside = data[5:-5, 5:-5]
        assert set(np.unique(inside)) <= {0, 1} and inside.mean() > 0.01
    with rasterio.open(result["OUTPUT_ADAPTED"]) as a, \
            rasterio.open(result["OUTPUT_BASE"]) as b:
        assert a.shape == b.shape


def test_region_in_other_crs_and_reference_polygons_as_labels(qgis_app, tmp_path):
    import processing
    from qgis.core import QgsVectorLayer
    reference = QgsVectorLayer(str(SAMPLE_REFERENCE), "reference")
    processing.run("ugs:adapttoregion", params(
        tmp_path, REGION=region_layer("EPSG:3857"), REFERENCE=reference, FIELD="class",
        GREEN_VALUES="1"))
    info = json.loads((tmp_path / "adapted.json").read_text())["adaptation"]
    assert "reference" in info["losses_last"]
    assert "reference polygons" in info["method"]
    assert info["region"]["bounds"] == pytest.approx(REGION, abs=1.0)


def test_cancel_writes_nothing_and_keeps_an_earlier_model(qgis_app, tmp_path):
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback
    earlier = tmp_path / "adapted.pt"
    earlier.write_bytes(b"earlier model")
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: feedback.cancel() if p > 0 else None)
    with pytest.raises(QgsProcessingException, match="cancelled at iteration 1"):
        processing.run("ugs:adapttoregion", params(tmp_path, ITERATIONS=50),
                       feedback=feedback)
    assert earlier.read_bytes() == b"earlier model"
    assert not (tmp_path / "adapted.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapted.pt"]


@pytest.mark.parametrize("extra, message", [
    ({"REGION": "far"}, "does not overlap the raster"),
    ({"TILE_SIZE": 100}, "multiple of 16"),
    ({"SOURCE": "empty"}, "images/ and a masks/ subfolder"),
    ({"REGION": "tiny"}, "fit inside the region"),
])
def test_bad_input_is_a_clear_error(qgis_app, tmp_path, extra, message):
    import processing
    from qgis.core import QgsProcessingException
    if extra.get("REGION") == "far":
        extra["REGION"] = region_layer(rect=(0, 0, 100, 100))
    if extra.get("REGION") == "tiny":
        extra["REGION"] = region_layer(rect=(REGION[0], REGION[1], REGION[0] + 60,
                                             REGION[1] + 60))
    if extra.get("SOURCE") == "empty":
        extra["SOURCE"] = str(tmp_path)
    with pytest.raises(QgsProcessingException, match=message):
        processing.run("ugs:adapttoregion", params(tmp_path, **extra))
    assert not (tmp_path / "adapted.pt").exists()



@pytest.fixture(scope="module")
def region_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("region") / "region.geojson"
    w, s, e, n = REGION
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25830"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n],
                                                [w, s]]]}}]}))
    return path


def test_cli_adapt_reaches_the_same_engine(tmp_path, region_file):
    done = cli("adapt", SAMPLE_SCENE, region_file, tmp_path / "cli.pt", "--iterations",
               2, "--device", "cpu", "--map", tmp_path / "map.tif", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["model"] == str(tmp_path / "cli.pt")
    assert set(summary["losses_last"]) == {"seg", "adv", "disc"}
    card = json.loads((tmp_path / "cli.json").read_text())
    assert card["adaptation"]["iterations"] == 2
    with rasterio.open(tmp_path / "map.tif") as out:
        assert out.width == pytest.approx(600, abs=2)


def test_cli_adapt_errors_in_one_line(tmp_path, region_file):
    done = cli("adapt", SAMPLE_SCENE, region_file, REPO / "models" / "ugsnet_light.pt",
               "--iterations", 1)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: the adapted model would overwrite")
    done = cli("adapt", SAMPLE_SCENE, region_file, tmp_path / "x.txt", "--iterations", 1)
    assert done.returncode == 1 and "must end in .pt" in done.stderr


def test_comparison_maps_load_side_by_side_with_names_and_style(qgis_app, tmp_path):
    """What the dialog does with the two optional maps: QGIS's own post-processing."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingFeedback,
                           QgsProcessingOutputLayerDefinition, QgsProject)
    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()
    alg = QgsApplication.processingRegistry().createAlgorithmById("ugs:adapttoregion")
    outputs = {key: QgsProcessingOutputLayerDefinition(str(tmp_path / f"{key}.tif"),
                                                       project)
               for key in ("OUTPUT_ADAPTED", "OUTPUT_BASE")}
    results, ok = alg.run(params(tmp_path, ITERATIONS=1, **outputs), context, feedback)
    assert ok
    handleAlgorithmResults(alg, context, feedback=feedback, parameters=results)
    loaded = {lyr.name(): lyr for lyr in project.mapLayers().values()}
    assert {"Green space (adapted model)", "Green space (base model)"} <= set(loaded)
    for layer in loaded.values():
        assert layer.renderer().type() == "paletted"
    project.removeAllMapLayers()


def test_qgis_process_runs_the_adaptation(qgis_process_env, region_file, tmp_path):
    out = tmp_path / "qp.pt"
    proc = subprocess.run(["qgis_process.bin", "--json", "run", "ugs:adapttoregion", "--",
                           f"INPUT={SAMPLE_SCENE}", f"REGION={region_file}",
                           "ITERATIONS=2", "DEVICE=1", f"OUTPUT={out}"],
                          env=qgis_process_env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    card = json.loads(out.with_suffix(".json").read_text())
    assert results["DISC_LOSS_LAST"] == card["adaptation"]["losses_last"]["disc"]


def test_dialog_shows_the_basics_and_hides_the_tuning(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition
    alg = QgsApplication.processingRegistry().algorithmById("ugs:adapttoregion")
    advanced = {p.name() for p in alg.parameterDefinitions()
                if p.flags() & QgsProcessingParameterDefinition.FlagAdvanced}
    assert advanced == {"BANDS", "TILE_SIZE", "BATCH_SIZE", "LAMBDA_ADV", "LR_GENERATOR",
                        "LR_DISCRIMINATOR", "MATCH_COLOURS", "SEED"}
    train = QgsApplication.processingRegistry().algorithmById("ugs:trainmodel")
    assert {p.name() for p in train.parameterDefinitions()
            if p.flags() & QgsProcessingParameterDefinition.FlagAdvanced} == {
        "BATCH_SIZE", "CROP", "LEARNING_RATE", "SEED", "VAL_FRACTION", "SCALE_RANGE",
        "VALIDATE_EVERY", "CHECKPOINT_EVERY"}
