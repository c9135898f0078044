"""Every algorithm, as a user runs it: the plugin unzipped into a fresh QGIS profile
(not this checkout), each algorithm once through qgis_process.bin on the sample
scene, the engine's packages found through UGS_PYTHON_PATH. On both test
platforms (QGIS 3.22 and 3.44 LTR)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from conftest import REPO, SAMPLE_REFERENCE, SAMPLE_SCENE, write_ugset

sys.path.insert(0, str(REPO / "scripts"))
import package  # noqa: E402
from build_frame_grid import build_frame_grid  # noqa: E402

pytestmark = pytest.mark.qgis_process
SAMPLE = REPO / "resources" / "sample"
DISTRICTS = SAMPLE / "valencia_districts.gpkg"
BUILDINGS = SAMPLE / "valencia_buildings.gpkg"
# A region in the scene's east (EPSG:25830), as the adaptation's drawn region.
REGION = (726600.0, 4372900.0, 727300.0, 4373600.0)


@pytest.fixture(scope="module")
def zip_env(tmp_path_factory):
    from qgis_profile import zip_profile
    base = tmp_path_factory.mktemp("zip_algorithms")
    env, _ = zip_profile(base / "qgis", package.build(base / "dist"))
    env["UGS_PYTHON_PATH"] = str(REPO / ".venv")
    return env


def qgis_process(env, algorithm, **params):
    """(results, log) of one run; fails the test with QGIS's own output."""
    proc = subprocess.run(
        ["qgis_process.bin", "--json", "run", f"ugs:{algorithm}", "--",
         *(f"{k}={v}" for k, v in params.items())],
        env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (algorithm, proc.stdout[-1500:], proc.stderr[-1500:])
    return json.loads(proc.stdout[proc.stdout.index("{"):])["results"]


def test_every_algorithm_runs_from_the_zip_through_qgis_process(zip_env, tmp_path):
    run = lambda algorithm, **p: qgis_process(zip_env, algorithm, **p)  # noqa: E731
    done = []
    w, s, e, n = REGION
    region = tmp_path / "region.geojson"
    region.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25830"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon",
            "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}]}))

    run("createreferencelayer", CRS="EPSG:25830", OUTPUT=tmp_path / "ref.gpkg")
    assert (tmp_path / "ref.gpkg").exists()
    done.append("createreferencelayer")

    run("maskbyurbanboundary", INPUT=SAMPLE_SCENE, BOUNDARY=region,
        OUTPUT=tmp_path / "masked.tif")
    with rasterio.open(tmp_path / "masked.tif") as src:
        inside = src.read_masks(1) > 0
    assert inside.sum() == pytest.approx((e - w) * (n - s), rel=0.01)
    done.append("maskbyurbanboundary")

    mapped = run("extracturbangreenspace", INPUT=SAMPLE_SCENE, OUTPUT=tmp_path / "a.tif")
    assert 0.05 < mapped["GREEN_FRACTION"] < 0.5
    run("extracturbangreenspace", INPUT=tmp_path / "masked.tif",
        OUTPUT=tmp_path / "b.tif")
    done.append("extracturbangreenspace")

    scores = run("assessaccuracy", INPUT=tmp_path / "a.tif", REFERENCE=SAMPLE_REFERENCE,
                 FIELD="class", OUTPUT_TABLE=tmp_path / "matrix.gpkg",
                 OUTPUT_HTML=tmp_path / "report.html")
    assert 0.5 < scores["OVERALL_ACCURACY"] <= 1 and (tmp_path / "report.html").exists()
    done.append("assessaccuracy")

    sample = run("stratifiedsample", INPUT=tmp_path / "a.tif", N_GREEN=5, N_OTHER=5,
                 SEED=1, OUTPUT=tmp_path / "points.gpkg")
    assert sample["POINTS"] == 10
    done.append("stratifiedsample")

    run("greenspacestatistics", INPUT=tmp_path / "a.tif", ZONES=DISTRICTS,
        OUTPUT=tmp_path / "stats.gpkg")
    assert (tmp_path / "stats.gpkg").exists()
    done.append("greenspacestatistics")

    run("greenspaceindicators", INPUT=tmp_path / "a.tif", ZONES=DISTRICTS,
        ID_FIELD="name", BUILDINGS=BUILDINGS, OUTPUT=tmp_path / "districts.gpkg",
        OUTPUT_HTML=tmp_path / "indicators.html")
    assert "Green cover" in (tmp_path / "indicators.html").read_text(encoding="utf-8")
    done.append("greenspaceindicators")

    run("greenspacechange", MAP_A=tmp_path / "a.tif", MAP_B=tmp_path / "b.tif",
        OUTPUT=tmp_path / "change.tif")
    with rasterio.open(tmp_path / "change.tif") as src:
        classes = set(np.unique(src.read(1)).tolist())
    assert classes <= {0, 1, 2, 3, 255} and {0, 1} <= classes
    done.append("greenspacechange")

    grid, images, boundary = build_frame_grid(tmp_path / "frames", 256, 2, 1)
    run("extractframegrid", GRID=grid, IMAGE_FIELD="image", ID_FIELD="frame",
        IMAGES_FOLDER=images, OUTPUT_FOLDER=tmp_path / "maps")
    assert (tmp_path / "maps" / "mosaic.vrt").exists()
    done.append("extractframegrid")

    tiles = write_ugset(tmp_path / "ugset", ("chico_2020_3", "long_beach_2020_5"))
    run("trainmodel", TILES=tiles, STEPS=2, BATCH_SIZE=2,
        CROP=64, OUTPUT=tmp_path / "trained.pt")
    assert (tmp_path / "trained.json").exists()
    done.append("trainmodel")

    run("finetuneonreference", INPUT=SAMPLE_SCENE, REFERENCE=SAMPLE_REFERENCE,
        FIELD="class", GREEN_VALUES="1", ITERATIONS=2, DEVICE=1,
        OUTPUT=tmp_path / "finetuned.pt")
    assert (tmp_path / "finetuned.json").exists()
    done.append("finetuneonreference")

    places = run("suggestplacestomark", INPUT=SAMPLE_SCENE,
                 MODEL=tmp_path / "finetuned.pt", PREVIOUS_MODEL=tmp_path / "trained.pt",
                 COUNT=4, CHECKS=2, DEVICE=1, OUTPUT=tmp_path / "places.gpkg")
    assert places["COUNT_WRITTEN"] == 6 and (tmp_path / "places.gpkg").exists()
    done.append("suggestplacestomark")

    run("adapttoregion", INPUT=SAMPLE_SCENE, REGION=region, ITERATIONS=2, DEVICE=1,
        OUTPUT=tmp_path / "adapted.pt")
    assert (tmp_path / "adapted.json").exists()
    done.append("adapttoregion")

    listed = subprocess.run(["qgis_process.bin", "list"], env=zip_env,
                            capture_output=True, text=True, timeout=300).stdout
    provided = sorted(line.split()[0][len("ugs:"):] for line in listed.splitlines()
                      if line.strip().startswith("ugs:"))
    assert sorted(done) == provided and len(provided) == 13
