"""The algorithm through the real QGIS Processing framework and qgis_process.bin."""
import json
import subprocess

import numpy as np
import pytest
import rasterio

from conftest import SAMPLE_SCENE, naip_mosaic, naip_path, write_raster

ALG = "ugs:extracturbangreenspace"



@pytest.fixture(scope="module")
def small_rgb(tmp_path_factory):
    data = naip_mosaic(["claremont_2020_7"], 1)[:3]
    return write_raster(tmp_path_factory.mktemp("small") / "claremont_7.tif", data,
                        crs="EPSG:26911",
                        transform=rasterio.open(naip_path("claremont_2020_7")).transform)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_provider_and_algorithm_are_registered(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition
    provider = QgsApplication.processingRegistry().providerById("ugs")
    assert provider is not None and provider.name() == "Urban Green Space"
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert alg.displayName() == "Extract Urban Green Space"
    names = {p.name(): p for p in alg.parameterDefinitions()}
    for name in ("INPUT", "MODEL", "BOUNDARY", "BANDS", "DEVICE", "TILE_SIZE", "OVERLAP",
                 "BATCH_SIZE", "THRESHOLD", "OUTPUT", "OUTPUT_PROBABILITY",
                 "OUTPUT_POLYGONS"):
        assert name in names
    for name in ("TILE_SIZE", "OVERLAP", "BATCH_SIZE", "THRESHOLD"):
        assert names[name].flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert "~1 m" in alg.shortHelpString() or "1 m" in alg.shortHelpString()


def test_processing_run_writes_map_probability_and_polygons(processing, small_rgb,
                                                            tmp_path):
    result = processing.run(ALG, {
        "INPUT": str(small_rgb), "OUTPUT": str(tmp_path / "map.tif"),
        "OUTPUT_PROBABILITY": str(tmp_path / "prob.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "green.gpkg")})
    classes = read(result["OUTPUT"])
    assert set(np.unique(classes)) <= {0, 1}
    assert result["GREEN_FRACTION"] == pytest.approx(np.mean(classes == 1))
    assert result["GREEN_AREA"] == pytest.approx(np.sum(classes == 1) * 0.36, rel=1e-6)
    assert read(result["OUTPUT_PROBABILITY"]).max() <= 100
    from qgis.core import QgsVectorLayer
    layer = QgsVectorLayer(result["OUTPUT_POLYGONS"], "green")
    assert layer.isValid() and layer.featureCount() > 0
    assert {f["class"] for f in layer.getFeatures()} == {1}
    area = sum(f.geometry().area() for f in layer.getFeatures())
    assert area == pytest.approx(result["GREEN_AREA"], rel=1e-6)


def test_boundary_in_another_crs_masks_outside(processing, small_rgb, tmp_path):
    """A boundary drawn in EPSG:4326 over the left half of a UTM raster."""
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                           QgsFeature, QgsGeometry, QgsProject, QgsRectangle,
                           QgsVectorLayer)
    with rasterio.open(small_rgb) as ds:
        b = ds.bounds
    mid = (b.left + b.right) / 2
    utm_half = QgsGeometry.fromRect(QgsRectangle(b.left - 50, b.bottom - 50, mid,
                                                 b.top + 50))
    to_wgs = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:26911"),
                                    QgsCoordinateReferenceSystem("EPSG:4326"),
                                    QgsProject.instance())
    utm_half.transform(to_wgs)
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "boundary", "memory")
    feature = QgsFeature()
    feature.setGeometry(utm_half)
    layer.dataProvider().addFeatures([feature])
    result = processing.run(ALG, {"INPUT": str(small_rgb), "BOUNDARY": layer,
                                  "OUTPUT": str(tmp_path / "masked.tif")})
    classes = read(result["OUTPUT"])
    # Reprojection bends the edge slightly: check well clear of it.
    assert (classes[:, 140:] == 255).all()
    assert (classes[:, :115] != 255).all()


@pytest.mark.parametrize("case", ["no_crs", "one_band", "bad_model", "unwritable"])
def test_bad_input_raises_a_clear_processing_error(processing, small_rgb, tmp_path,
                                                   case):
    from qgis.core import QgsProcessingException
    params = {"INPUT": str(small_rgb), "OUTPUT": str(tmp_path / "out.tif")}
    data = naip_mosaic(["claremont_2020_7"], 1)
    expected = {"no_crs": "no coordinate reference system", "one_band": "band mapping",
                "bad_model": "not a readable PyTorch model file",
                "unwritable": "cannot write the output"}[case]
    if case == "no_crs":
        params["INPUT"] = str(write_raster(tmp_path / "nocrs.tif", data[:3], crs=None))
    elif case == "one_band":
        params["INPUT"] = str(write_raster(tmp_path / "one.tif", data[:1]))
    elif case == "bad_model":
        bad = tmp_path / "bad.pt"
        bad.write_text("not a model")
        params["MODEL"] = str(bad)
    else:
        (tmp_path / "a_file").write_text("x")
        params["OUTPUT"] = str(tmp_path / "a_file" / "out.tif")
    with pytest.raises(QgsProcessingException, match=expected):
        processing.run(ALG, params)
    assert not (tmp_path / "out.tif").exists()


def test_cancel_through_feedback_leaves_nothing(processing, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: feedback.cancel() if p > 30 else None)
    out = tmp_path / "map.tif"
    with pytest.raises(QgsProcessingException, match="(?i)cancelled"):
        processing.run(ALG, {"INPUT": str(SAMPLE_SCENE), "OUTPUT": str(out),
                             "TILE_SIZE": 256}, feedback=feedback)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_output_loads_on_completion_with_the_style(processing, small_rgb, tmp_path):
    """What the dialog does: outputs set to load, then QGIS's own post-processing."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingFeedback,
                           QgsProcessingOutputLayerDefinition, QgsProject)
    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()
    alg = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    out = QgsProcessingOutputLayerDefinition(str(tmp_path / "styled.tif"), project)
    params = {"INPUT": str(small_rgb), "OUTPUT": out}
    results, ok = alg.run(params, context, feedback)
    assert ok
    handleAlgorithmResults(alg, context, feedback=feedback, parameters=results)
    layers = [lyr for lyr in project.mapLayers().values()
              if lyr.source() == str(tmp_path / "styled.tif")]
    assert len(layers) == 1
    renderer = layers[0].renderer()
    assert renderer.type() == "paletted"
    classes = {c.value: c for c in renderer.classes()}
    assert classes[1].color.name() == "#38a800" and classes[1].color.alpha() == 255
    assert classes[0].color.alpha() == 0
    project.removeAllMapLayers()


def test_graphical_model_runs_the_algorithm(processing, small_rgb, tmp_path):
    from qgis.core import (QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                           QgsProcessingModelParameter,
                           QgsProcessingParameterRasterLayer)
    model = QgsProcessingModelAlgorithm("green model", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("image", "Image"),
                            QgsProcessingModelParameter("image"))
    child = QgsProcessingModelChildAlgorithm(ALG)
    child.setChildId("extract")
    child.addParameterSources("INPUT", [
        QgsProcessingModelChildParameterSource.fromModelParameter("image")])
    # As the modeler does when the algorithm is dropped in: defaults for the rest.
    for param in child.algorithm().parameterDefinitions():
        if param.name() != "INPUT" and not param.isDestination() \
                and param.defaultValue() is not None:
            child.addParameterSources(param.name(), [
                QgsProcessingModelChildParameterSource.fromStaticValue(
                    param.defaultValue())])
    output = QgsProcessingModelOutput("green_map")
    output.setChildOutputName("OUTPUT")
    child.setModelOutputs({"green_map": output})
    model.addChildAlgorithm(child)
    model.updateDestinationParameters()
    assert model.validate()[0], model.validate()[1]
    out = tmp_path / "model_map.tif"
    result = processing.run(model, {"image": str(small_rgb),
                                    "extract:green_map": str(out)})
    assert read(result["extract:green_map"]).shape == (256, 256)


def test_batch_over_several_rasters(processing, tmp_path):
    """The batch dialog runs the algorithm once per row; do the same for 3 rasters."""
    outputs = []
    for i, name in enumerate(["claremont_2020_11", "palm_springs_2020_3",
                              "santa_monica_2020_4"]):
        out = tmp_path / f"{name}.tif"
        processing.run(ALG, {"INPUT": str(naip_path(name)), "OUTPUT": str(out)})
        outputs.append(read(out))
    assert all(o.shape == (256, 256) and set(np.unique(o)) <= {0, 1} for o in outputs)


def run_qgis_process(env, *args):
    return subprocess.run(["qgis_process.bin", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_qgis_process_lists_and_runs_the_algorithm(qgis_process_env, small_rgb, tmp_path):
    listing = run_qgis_process(qgis_process_env, "list")
    assert "Urban Green Space" in listing.stdout and ALG in listing.stdout
    out = tmp_path / "cli_map.tif"
    proc = run_qgis_process(qgis_process_env, "--json", "run", ALG, "--",
                            f"INPUT={small_rgb}", f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    classes = read(out)
    assert results["GREEN_FRACTION"] == pytest.approx(np.mean(classes == 1))


def test_qgis_process_reports_bad_input(qgis_process_env, tmp_path):
    one_band = write_raster(tmp_path / "one.tif", naip_mosaic(["claremont_2020_7"], 1)[:1])
    proc = run_qgis_process(qgis_process_env, "run", ALG, "--", f"INPUT={one_band}",
                            f"OUTPUT={tmp_path / 'out.tif'}")
    assert proc.returncode != 0
    assert "band mapping" in proc.stdout + proc.stderr
    assert not (tmp_path / "out.tif").exists()


def test_every_algorithm_follows_the_toolbox_conventions(qgis_app):
    """Grouped like QGIS's own algorithms, tagged, with help that points at an existing
    README section; labels never say "optional" (QGIS appends "[optional]");
    the device list is the engine's."""
    import re

    from qgis.core import QgsApplication

    from conftest import REPO
    from ugs_plugin.core.config import DEVICES
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in readme.splitlines() if line.startswith("#")}
    algorithms = QgsApplication.processingRegistry().providerById("ugs").algorithms()
    assert len(algorithms) == 13
    groups = set()
    for alg in algorithms:
        groups.add(alg.groupId())
        assert alg.group() and alg.groupId() and alg.tags(), alg.id()
        assert alg.shortHelpString(), alg.id()
        assert alg.helpUrl().split("#")[1] in anchors, (alg.id(), alg.helpUrl())
        for param in alg.parameterDefinitions():
            assert "optional" not in param.description().lower(), (alg.id(),
                                                                     param.name())
            if param.name() == "DEVICE":
                assert tuple(param.options()) == DEVICES, alg.id()
    assert groups == {"mapping", "accuracy", "models", "statistics"}


def test_settings_page_sets_the_defaults_and_threads(qgis_app, small_rgb, tmp_path):
    """Settings > Options > Processing > Urban Green Space: the device default of the
    algorithms and the engine's threads follow it."""
    import os

    import processing
    from processing.core.ProcessingConfig import ProcessingConfig
    from qgis.core import QgsApplication
    for name in ("UGS_DEFAULT_DEVICE", "UGS_DEFAULT_MODEL", "UGS_THREADS",
                 "UGS_DEPENDENCY_FOLDER"):
        assert name in ProcessingConfig.settings, name
    provider = QgsApplication.processingRegistry().providerById("ugs")
    try:
        ProcessingConfig.setSettingValue("UGS_DEFAULT_DEVICE", 1)  # index of "cpu"
        ProcessingConfig.setSettingValue("UGS_THREADS", 1)
        provider.refreshAlgorithms()
        alg = QgsApplication.processingRegistry().algorithmById(ALG)
        assert alg.parameterDefinition("DEVICE").defaultValue() == 1
        processing.run(ALG, {"INPUT": str(small_rgb), "OUTPUT": str(tmp_path / "m.tif")})
        assert os.environ.get("UGS_THREADS") == "1"
        from ugs_plugin.core.model.engines import cpu_threads
        assert cpu_threads() == 1
    finally:
        ProcessingConfig.setSettingValue("UGS_DEFAULT_DEVICE", 0)
        ProcessingConfig.setSettingValue("UGS_THREADS", 0)
        provider.refreshAlgorithms()
        os.environ.pop("UGS_THREADS", None)
