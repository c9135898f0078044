"""ugs:trainmodel and `python -m ugs_plugin train` on a tiny real UGSet-layout folder."""
import json
import os

import numpy as np
import pytest
import rasterio

from conftest import REPO, cli, hiding, naip_path, write_raster, write_ugset

TILES = ["chico_2020_3", "chico_2020_8", "long_beach_2020_5", "long_beach_2020_9",
         "santa_monica_2020_2"]


@pytest.fixture(scope="module")
def ugset_folder(tmp_path_factory):
    return write_ugset(tmp_path_factory.mktemp("ugset"), TILES)


def test_trainmodel_algorithm_writes_a_usable_model(qgis_app, ugset_folder, tmp_path):
    import processing
    out = tmp_path / "trained.pt"
    result = processing.run("ugs:trainmodel", {
        "TILES": str(ugset_folder), "VAL_GROUPS": "santa_monica_2020", "STEPS": 4,
        "BATCH_SIZE": 2, "CROP": 64, "OUTPUT": str(out)})
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["variant"] == "light"
    assert card["training"]["validation_groups"] == ["santa_monica_2020"]
    assert card["training"]["train_groups"] == ["chico_2020", "long_beach_2020"]
    assert 0 <= result["VAL_F1"] <= 1 and result["VAL_F1"] == card["validation"]["f1"]
    # The new model drives the extraction.
    mapped = processing.run("ugs:extracturbangreenspace", {
        "INPUT": str(naip_path("claremont_2020_7")), "MODEL": str(out),
        "OUTPUT": str(tmp_path / "map.tif")})
    assert rasterio.open(mapped["OUTPUT"]).read(1).shape == (256, 256)


def test_trainmodel_cancel_writes_no_model_and_resume_finishes(qgis_app, ugset_folder,
                                                               tmp_path):
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback
    out = tmp_path / "m.pt"
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: feedback.cancel() if p >= 50 else None)
    params = {"TILES": str(ugset_folder), "STEPS": 6, "BATCH_SIZE": 2, "CROP": 64,
              "OUTPUT": str(out)}
    with pytest.raises(QgsProcessingException, match="resume"):
        processing.run("ugs:trainmodel", params, feedback=feedback)
    assert not out.exists() and (tmp_path / "m.pt.ckpt").exists()
    processing.run("ugs:trainmodel", dict(params, RESUME=True))
    assert out.exists() and not (tmp_path / "m.pt.ckpt").exists()


def test_trainmodel_reports_bad_folder(qgis_app, tmp_path):
    import processing
    from qgis.core import QgsProcessingException
    with pytest.raises(QgsProcessingException, match="UGSet layout"):
        processing.run("ugs:trainmodel", {"TILES": str(tmp_path), "STEPS": 2,
                                          "OUTPUT": str(tmp_path / "m.pt")})


def test_cli_train_with_pairs_file(ugset_folder, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("".join(f"{ugset_folder}/images/{n}.tif,"
                             f"{ugset_folder}/masks/{n}.tif\n" for n in TILES))
    out = tmp_path / "cli.pt"
    proc = cli("train", out, "--pairs", pairs, "--steps", "3", "--batch-size", "2",
               "--crop", "64", "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "f1" in json.loads(proc.stdout)
    assert json.loads(out.with_suffix(".json").read_text())["training"]["train_tiles"] > 0


def test_cli_train_without_validation_prints_one_progress_line_per_step(ugset_folder,
                                                                        tmp_path):
    """--val-fraction 0 holds nothing out; progress lines end with newlines."""
    out = tmp_path / "all.pt"
    proc = cli("train", out, "--tiles", ugset_folder, "--steps", "20", "--batch-size",
               "2", "--crop", "64", "--val-fraction", "0")
    assert proc.returncode == 0, proc.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["validation_tiles"] == 0
    assert card["training"]["train_tiles"] == len(TILES)
    steps = [line for line in proc.stderr.splitlines() if "loss" in line and "%" in line]
    assert steps and all(line.count("step ") == 1 for line in steps), proc.stderr
    assert "warning: no validation tiles" in proc.stderr


def test_training_without_onnx_keeps_the_model_and_maps_on_pytorch(ugset_folder,
                                                                   tmp_path):
    """PyTorch without the onnx package (Debian's python3-torch, a torch installed by
    hand): the finished training is written (.pt + card), the log says why there is
    no graph, and the model still maps, on PyTorch."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([
        hiding(tmp_path / "hidden", "onnx"), str(REPO)]))
    out = tmp_path / "no_onnx.pt"
    proc = cli("train", out, "--tiles", ugset_folder, "--steps", "2", "--batch-size",
               "2", "--crop", "64", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists() and out.with_suffix(".json").exists()
    assert not out.with_suffix(".onnx").exists()
    assert "without its ONNX graph" in proc.stderr and "pip install onnx" in proc.stderr
    assert "onnx" not in json.loads(out.with_suffix(".json").read_text())
    image = tmp_path / "scene.tif"
    with rasterio.open(naip_path(TILES[0])) as src:
        write_raster(image, src.read()[:3], crs=src.crs, transform=src.transform)
    mapped = cli("extract", image, tmp_path / "map.tif", "--model", out, "--tile-size",
                 "128", env=env)
    assert mapped.returncode == 0, mapped.stderr[-2000:]
    assert "Running on PyTorch instead" in mapped.stderr
    with rasterio.open(tmp_path / "map.tif") as src:
        assert set(np.unique(src.read(1))) <= {0, 1}
    explicit = cli("extract", image, tmp_path / "map2.tif", "--model", out, "--engine",
                   "onnxruntime", env=env)
    assert explicit.returncode == 1 and "pip install onnx" in explicit.stderr
