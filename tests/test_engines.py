"""The inference engines: ONNX Runtime gives PyTorch's maps, runs without PyTorch,
and every model file carries its ONNX graph."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from conftest import REPO, cli, SAMPLE_SCENE, naip_mosaic, write_raster
from ugs_plugin.core.model.engines import (cpu_choice, cpu_family, cpu_flags, EngineError,
                                           installed, load_engine, OnnxRuntimeEngine,
                                           resolve_engine, TorchEngine)
from ugs_plugin.core.errors import UgsError
from ugs_plugin.core.mapping.imagery import BandPlanReader
from ugs_plugin.core.model.card import DEFAULT_MODEL
from ugs_plugin.core.model.files import load_model, save_model

# Runs the CLI in a Python where "import torch" fails, as on a machine with only
# onnxruntime installed.
WITHOUT_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return None
sys.meta_path.insert(0, NoTorch())
from ugs_plugin.cli import main
code = main(sys.argv[1:])
assert "torch" not in sys.modules, "torch was imported"
sys.exit(code)
"""


def scene_tiles(card, count=3, size=512):
    with rasterio.open(SAMPLE_SCENE) as src:
        reader = BandPlanReader(src, card, (), None, lambda m: None)
        step = (min(src.width, src.height) - size) // max(1, count - 1)
        return [reader.read(src, Window(i * step, j * step, size, size))[0]
                for i in range(count) for j in range(count)]


def test_onnxruntime_gives_the_maps_of_pytorch_on_the_sample_scene():
    """Nine 512 px tiles of real imagery: classes agree on >= 99.99 % of pixels and
    probabilities within 1e-3 on >= 99.999 % (PointRend re-predicts the 1024 least
    certain points per step; a tie in that ranking moves a handful of them)."""
    onnx, card = load_engine(None, "cpu", "onnxruntime")
    torch_engine, _ = load_engine(None, "cpu", "torch")
    assert isinstance(onnx, OnnxRuntimeEngine) and isinstance(torch_engine, TorchEngine)
    tiles = scene_tiles(card)
    a, b = onnx(tiles), torch_engine(tiles)
    assert a.shape == b.shape == (9, 512, 512)
    assert ((a > 0.5) == (b > 0.5)).mean() >= 0.9999
    assert (np.abs(a - b) <= 1e-3).mean() >= 0.99999


def test_auto_is_onnxruntime_on_the_cpu_and_names_are_checked():
    assert resolve_engine("auto", "cpu") == "onnxruntime"
    assert resolve_engine("auto", "auto") == "onnxruntime"  # no GPU here
    assert resolve_engine("torch", "cpu") == "torch"
    with pytest.raises(EngineError, match="unknown engine"):
        resolve_engine("tensorrt", "cpu")
    with pytest.raises(EngineError, match="runs fp32"):
        load_engine(None, "cpu", "onnxruntime", precision="bf16")


def test_cli_extracts_without_pytorch_and_says_training_needs_it(tmp_path):
    image = write_raster(tmp_path / "rgb.tif",
                         naip_mosaic(["claremont_2020_7", "claremont_2020_8"], 2)[:3])
    env_run = [sys.executable, "-c", WITHOUT_TORCH]
    proc = subprocess.run([*env_run, "extract", str(image), str(tmp_path / "a.tif"),
                           "--engine", "onnxruntime", "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["engine"] == "onnxruntime" and summary["precision"] == "fp32"
    # The same run with PyTorch importable gives the same map.
    with_torch = cli("extract", image, tmp_path / "b.tif", "--engine", "onnxruntime")
    assert with_torch.returncode == 0, with_torch.stderr
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert np.array_equal(a.read(1), b.read(1))
    proc = subprocess.run([*env_run, "train", str(tmp_path / "m.pt"), "--tiles",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1 and "torch" in proc.stderr.splitlines()[-1]
    assert "Traceback" not in proc.stderr


def test_an_auto_run_with_cpu_only_pytorch_never_imports_it(tmp_path):
    """PyTorch is installed here, built without a GPU: its version file tells so, and
    a default mapping run skips the import (a second of every run's start-up). The
    sample scene: larger than a tile, so auto does not pick PyTorch for its size."""
    script = ("import sys; from ugs_plugin.cli import main; code = main(sys.argv[1:]); "
              "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", script, "extract", str(SAMPLE_SCENE),
                           str(tmp_path / "a.tif"), "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["engine"] in ("onnxruntime", "openvino")


@pytest.mark.parametrize("build, expected", [("'12.4'", True), ("None", False)])
def test_a_gpu_build_of_pytorch_is_told_from_its_version_file(tmp_path, build,
                                                              expected):
    """A package named torch whose version file names a CUDA build (or none) first on
    the path: auto then asks PyTorch for a GPU (or does not)."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("")
    (tmp_path / "torch" / "version.py").write_text(
        f"__version__ = '9.9'\ncuda: Optional[str] = {build}\nhip: Optional[str] = None\n")
    script = ("import sys; sys.path.insert(0, sys.argv[1]); "
              "from ugs_plugin.core.model.engines import _torch_build_has_gpu; "
              "print(_torch_build_has_gpu())")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(expected)


def test_saved_models_carry_their_onnx_graph(tmp_path):
    model, card = load_model(None, "cpu")
    out = save_model(model, {**card, "name": "copy"}, tmp_path / "copy.pt")
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["onnx"]["file"] == "copy.onnx" and written["onnx"]["opset"] == 17
    assert (tmp_path / "copy.onnx").exists()
    onnx, _ = load_engine(out, "cpu", "onnxruntime")
    bundled, _ = load_engine(None, "cpu", "onnxruntime")
    tiles = scene_tiles(card, count=1)
    assert np.allclose(onnx(tiles), bundled(tiles), atol=1e-5)


def test_a_damaged_graph_is_named_and_a_missing_one_exported(tmp_path):
    for suffix in (".pt", ".json", ".onnx"):
        shutil.copy(DEFAULT_MODEL.with_suffix(suffix), tmp_path / f"m{suffix}")
    card = json.loads((tmp_path / "m.json").read_text())
    card["onnx"]["file"] = "m.onnx"
    (tmp_path / "m.json").write_text(json.dumps(card))
    data = (tmp_path / "m.onnx").read_bytes()
    (tmp_path / "m.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(UgsError, match="m.onnx is not the ONNX graph its card describes"):
        load_engine(tmp_path / "m.pt", "cpu", "onnxruntime")
    # Without a graph (an authors'-style file): exported once, beside the model.
    (tmp_path / "m.onnx").unlink()
    del card["onnx"]
    (tmp_path / "m.json").write_text(json.dumps(card))
    from ugs_plugin.core.feedback import Recording
    first, again = Recording(), Recording()
    engine, _ = load_engine(tmp_path / "m.pt", "cpu", "onnxruntime", feedback=first)
    assert any("exporting" in m for m in first.messages)
    assert (tmp_path / "m.onnx").exists()
    load_engine(tmp_path / "m.pt", "cpu", "onnxruntime", feedback=again)
    assert not again.messages  # the export is reused


def test_a_graph_of_an_older_form_is_exported_again_once(tmp_path, monkeypatch):
    """A model saved before 0.6.9 lists a graph of the older, slower form (its card
    entry has no ``form``): mapping exports the current form once, beside it, leaves
    the card's graph as it is and quantizes from the new graph; without PyTorch the
    older graph still maps."""
    import onnx
    from ugs_plugin.core.feedback import Recording
    from ugs_plugin.core.model import engines
    from ugs_plugin.core.model.onnx_export import GRAPH_FORM
    model, card = load_model(None, "cpu")
    out = save_model(model, {**card, "name": "old"}, tmp_path / "old.pt")
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["onnx"]["form"] == GRAPH_FORM
    del written["onnx"]["form"]
    out.with_suffix(".json").write_text(json.dumps(written))
    listed = (tmp_path / "old.onnx").read_bytes()
    first, again = Recording(), Recording()
    engine, _ = load_engine(out, "cpu", "onnxruntime", feedback=first)
    assert any("old.onnx is of an older, slower form" in m for m in first.messages)
    fresh = tmp_path / "old.t512.onnx"
    stamp = json.loads(Path(f"{fresh}.json").read_text())
    assert stamp["form"] == GRAPH_FORM
    assert sum(n.op_type == "TopK" for n in onnx.load(str(fresh)).graph.node) == 2
    assert (tmp_path / "old.onnx").read_bytes() == listed
    tiles = scene_tiles(card, count=1)
    bundled, _ = load_engine(None, "cpu", "onnxruntime")
    assert np.allclose(engine(tiles), bundled(tiles), atol=1e-5)
    load_engine(out, "cpu", "onnxruntime", feedback=again)
    assert not again.messages  # exported once
    # int8 comes from the graph in use, not the older one beside it
    quantized = Recording()
    load_engine(out, "cpu", "onnxruntime", precision="int8", feedback=quantized)
    int8_stamp = json.loads((tmp_path / "old.int8.onnx.json").read_text())
    assert int8_stamp["graph_sha256"] == stamp["sha256"]
    # Without PyTorch the card's older graph maps as it is (no export, no error).
    fresh.unlink()
    monkeypatch.setattr(engines, "installed", lambda module: module != "torch")
    assert engines.ensure_onnx(out, json.loads(out.with_suffix(".json").read_text()),
                               512) == tmp_path / "old.onnx"


def test_other_tile_sizes_never_touch_the_shipped_graph(tmp_path):
    shipped = DEFAULT_MODEL.with_suffix(".onnx").read_bytes()
    engine, card = load_engine(None, "cpu", "onnxruntime", tile=256)
    assert engine.tile == 256
    assert engine([scene_tiles(card, 1, 256)[0]]).shape == (1, 256, 256)
    assert DEFAULT_MODEL.with_suffix(".onnx").read_bytes() == shipped
    assert not list(DEFAULT_MODEL.parent.glob("*.t256.onnx"))


def test_a_raster_smaller_than_a_tile_runs_on_pytorch_when_auto(tmp_path):
    engine, _ = load_engine(None, "cpu", "auto", raster_size=(300, 900))
    assert isinstance(engine, TorchEngine)
    engine, _ = load_engine(None, "cpu", "auto", raster_size=(900, 900))
    assert (engine.name, engine.precision) == cpu_choice()[:2]
    # Forced onto ONNX Runtime, a small tile is padded and cropped back.
    onnx, card = load_engine(None, "cpu", "onnxruntime")
    assert onnx([np.zeros((3, 100, 200), np.float32)]).shape == (1, 100, 200)


def test_processing_engine_parameter_gives_the_same_map(qgis_app, tmp_path):
    """ENGINE (advanced) through the real Processing framework: ONNX Runtime and
    PyTorch map the sample scene identically, and the log names the engine."""
    import processing
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines = []

        def pushInfo(self, info):  # noqa: N802
            self.lines.append(info)
            super().pushInfo(info)

    maps = {}
    for index, name in ((1, "onnxruntime"), (3, "torch")):
        log = Log()
        maps[name] = tmp_path / f"{name}.tif"
        processing.run("ugs:extracturbangreenspace", {
            "INPUT": str(SAMPLE_SCENE), "ENGINE": index, "OUTPUT": str(maps[name])},
            feedback=log)
        assert any(f"engine {name} (fp32)" in line for line in log.lines), log.lines
    with rasterio.open(maps["onnxruntime"]) as a, rasterio.open(maps["torch"]) as b:
        assert (a.read(1) == b.read(1)).mean() >= 0.9999


def test_cpu_families_and_the_measured_default_of_each(monkeypatch):
    """The family is the fastest instruction set the CPU reports; auto takes the
    family's entry in CPU_DEFAULTS where its engine is installed, else ONNX Runtime
    fp32, and an explicit fp32 or engine always wins."""
    from ugs_plugin.core.config import CPU_DEFAULTS
    from ugs_plugin.core.model.engines import CPU_FAMILIES
    assert cpu_family({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}) == "avx512_bf16"
    assert cpu_family({"avx2", "avx512f", "avx512_vnni", "amx_int8"}) == "amx"
    assert cpu_family({"avx2", "avx_vnni"}) == "avx_vnni"
    assert cpu_family({"avx2", "fma"}) == "avx2" and cpu_family(set()) == "baseline"
    unmeasured = next(name for name, _ in CPU_FAMILIES if name not in CPU_DEFAULTS)
    assert cpu_choice("auto", "auto", unmeasured)[:2] == ("onnxruntime", "fp32")
    for family, (engine, precision) in CPU_DEFAULTS.items():
        chosen = cpu_choice("auto", "auto", family)
        expected = (engine, precision) if installed(engine) else ("onnxruntime", "fp32")
        assert chosen[:2] == expected and family in chosen[2]
        assert cpu_choice("auto", "fp32", family)[:2] == ("onnxruntime", "fp32")
        assert cpu_choice("onnxruntime", "auto", family)[:2] == ("onnxruntime", "fp32")
    monkeypatch.setenv("UGS_CPU_FAMILY", "baseline")
    engine, _ = load_engine(None, "cpu", "auto")
    assert (engine.name, engine.precision) == ("onnxruntime", "fp32")
    assert "auto: fp32" in engine.describe() and "baseline" in engine.describe()
    with pytest.raises(EngineError, match="precision 'int4'"):
        load_engine(None, "cpu", "auto", precision="int4")


def test_without_proc_cpuinfo_the_family_comes_from_numpys_dispatch_table():
    """Windows and macOS have no /proc/cpuinfo: numpy's own table of the CPU's
    features names the family instead, so an AVX2 laptop gets its measured default."""
    from ugs_plugin.core.model.engines import flags_from_numpy, numpy_cpu_features
    features = numpy_cpu_features()
    assert "AVX2" in features or "NEON" in features  # the table is found on numpy 1 and 2
    assert cpu_family(flags_from_numpy({"AVX": True, "AVX2": True, "FMA3": True,
                                        "AVX512F": False})) == "avx2"
    assert cpu_family(flags_from_numpy({"AVX2": True, "AVX512F": True,
                                        "AVX512VNNI": True})) == "avx512_vnni"
    assert cpu_family(flags_from_numpy({"SSE42": True})) == "baseline"
    here = cpu_flags()
    assert flags_from_numpy(features) == {flag for flag in here
                                          if flag in ("avx2", "avx512f", "avx512_vnni")}


@pytest.mark.parametrize("engine_name", ["onnxruntime", "openvino"])
def test_int8_maps_nearly_as_fp32_and_says_what_ran(engine_name):
    """The shipped int8 graph on real tiles: >= 99 % of pixels in the class of fp32
    (benchmarks/RESULTS.md has its held-out F1), and the engine reports int8 read
    back from what runs (OpenVINO: its convolutions' runtime precision)."""
    if not installed(engine_name):
        pytest.skip(f"{engine_name} is not installed")
    int8, card = load_engine(None, "cpu", engine_name, precision="int8")
    fp32, _ = load_engine(None, "cpu", "onnxruntime", precision="fp32")
    tiles = scene_tiles(card, count=2)
    assert int8.precision == "int8"
    if engine_name == "openvino":   # every convolution of the graph, the point head's too
        import onnx
        graph = onnx.load(str(DEFAULT_MODEL.parent / card["onnx_int8"]["file"])).graph
        convs = sum(node.op_type == "Conv" for node in graph.node)
        assert f"int8: {convs} of {convs} convolutions in int8" in int8.describe()
    agree = ((int8(tiles) > 0.5) == (fp32(tiles) > 0.5)).mean()
    assert 0.99 <= agree < 1.0


def test_a_saved_model_is_quantized_once_and_again_when_its_graph_changes(tmp_path):
    from ugs_plugin.core.feedback import Recording
    model, card = load_model(None, "cpu")
    out = save_model(model, {**card, "name": "copy"}, tmp_path / "copy.pt")
    first, again = Recording(), Recording()
    engine, _ = load_engine(out, "cpu", "onnxruntime", precision="int8", feedback=first)
    assert any("quantizing copy.pt to int8" in m for m in first.messages)
    graph = tmp_path / "copy.int8.onnx"
    stamp = json.loads((tmp_path / "copy.int8.onnx.json").read_text())
    assert graph.exists() and "source sample" in stamp["calibration"]
    load_engine(out, "cpu", "onnxruntime", precision="int8", feedback=again)
    assert not again.messages
    # The same weights quantized here and for the bundled model's shipped graph.
    tiles = scene_tiles(card, count=1)
    shipped, _ = load_engine(None, "cpu", "onnxruntime", precision="int8")
    assert ((engine(tiles) > 0.5) == (shipped(tiles) > 0.5)).mean() >= 0.999
    # A new fp32 graph (the model saved again) makes a new int8 graph.
    (tmp_path / "copy.int8.onnx.json").write_text(json.dumps({**stamp,
                                                              "graph_sha256": "x"}))
    third = Recording()
    load_engine(out, "cpu", "onnxruntime", precision="int8", feedback=third)
    assert any("quantizing" in m for m in third.messages)
    # So does a graph made by an earlier recipe (its stamp has none, or an older one).
    stamp = json.loads((tmp_path / "copy.int8.onnx.json").read_text())
    assert stamp["recipe"] >= 2
    del stamp["recipe"]
    (tmp_path / "copy.int8.onnx.json").write_text(json.dumps(stamp))
    fourth = Recording()
    load_engine(out, "cpu", "onnxruntime", precision="int8", feedback=fourth)
    assert any("quantizing" in m for m in fourth.messages)
