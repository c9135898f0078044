"""Inference engines behind one interface: a batch of model-input tiles in, the
probability of green space out.

- ONNX Runtime (default on the CPU; 3 to 4 times PyTorch eager's speed on the same
  weights, see benchmarks/RESULTS.md): runs the ``<name>.onnx`` beside a model file,
  needs no PyTorch.
- OpenVINO, where installed: on request (``engine="openvino"``); fp32, or bf16 when
  asked for and said so in the log.
- PyTorch: CUDA/MPS, training-side code, and the fallback; a batch that runs out of
  GPU memory is split and the smaller size kept.

``load_engine`` picks one, and exports the ONNX graph of a model that has none when
PyTorch is there (beside the model, or in a cache folder).
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np

from ..config import ENGINES, GREEN, PRECISIONS
from ..errors import UgsError
from ..feedback import Feedback, SILENT
from .onnx_export import export_onnx, importable, onnx_beside
from .card import (DEFAULT_MODEL, file_sha256, ModelFileError, MODELS_DIR, read_card,
                   verify_sha256)

CACHE_DIR = Path(os.environ.get("UGS_CACHE_DIR") or
                 Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "ugs_plugin")


class EngineError(UgsError):
    """No engine can run as asked; the message says what to install or choose."""


class OnnxExportUnavailable(EngineError):
    """A graph is needed but PyTorch cannot export it (no ``onnx`` package)."""


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cpu_threads() -> int:
    """Threads for the CPU engines: UGS_THREADS when set (the plugin's setting sets
    it), else the cores this process may use."""
    asked = os.environ.get("UGS_THREADS", "").strip()
    if asked.isdigit() and int(asked) > 0:
        return int(asked)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Engine:
    """``engine(inputs) -> probabilities``: inputs a list of (C, H, W) float32 tiles
    scaled as the card says, probabilities (N, H, W) float32 of green space."""
    name = "engine"
    device = "cpu"
    precision = "fp32"
    max_batch = None          # a smaller batch size the engine settled on, if any

    def __call__(self, inputs) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ({self.precision}) on {self.device}"


def _softmax_green(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float32, copy=False)
    top = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - top)
    return (e[:, GREEN] / e.sum(axis=1)).astype(np.float32)


class _FixedTile(Engine):
    """Engines whose graph takes tiles of one size: smaller tiles (rasters smaller
    than one tile) are padded by mirroring and cropped back."""
    tile = None

    def _fit(self, batch):
        h, w = batch.shape[2:]
        if self.tile is None or (h, w) == (self.tile, self.tile):
            return batch, None
        if h > self.tile or w > self.tile:
            raise EngineError(f"tiles of {w}x{h} px do not fit this model's ONNX graph "
                              f"({self.tile} px); use tile size {self.tile} or the torch "
                              "engine")
        pad = ((0, 0), (0, 0), (0, self.tile - h), (0, self.tile - w))
        return np.pad(batch, pad, mode="symmetric"), (h, w)

    def __call__(self, inputs):
        batch, crop = self._fit(np.ascontiguousarray(np.stack(inputs), np.float32))
        probs = self._probabilities(batch)
        return probs if crop is None else probs[:, :crop[0], :crop[1]]


class OnnxRuntimeEngine(_FixedTile):
    name = "onnxruntime"

    def __init__(self, onnx_path, tile, threads=None):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        preferred = ("CUDAExecutionProvider", "DmlExecutionProvider",
                     "CoreMLExecutionProvider", "CPUExecutionProvider")
        available = ort.get_available_providers()
        providers = [p for p in preferred if p in available] or available
        try:
            self.session = ort.InferenceSession(str(onnx_path), options,
                                                providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise ModelFileError(f"{onnx_path} is not a usable ONNX model "
                                 f"({str(err).splitlines()[0][:200]}); delete it to "
                                 "have it exported again") from None
        self.input_name = self.session.get_inputs()[0].name
        self.tile = tile
        used = self.session.get_providers()[0]
        self.device = {"CUDAExecutionProvider": "cuda", "DmlExecutionProvider": "directml",
                       "CoreMLExecutionProvider": "coreml"}.get(used, "cpu")

    def _probabilities(self, batch):
        return _softmax_green(self.session.run(None, {self.input_name: batch})[0])


class OpenVinoEngine(_FixedTile):
    name = "openvino"

    def __init__(self, onnx_path, tile, precision="fp32", threads=None):
        import openvino as ov
        hints = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
        if precision not in hints:
            raise EngineError(f"precision {precision!r}: OpenVINO runs fp32, bf16 or "
                              "fp16")
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": hints[precision],
                  "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": threads or cpu_threads()}
        self.compiled = core.compile_model(str(onnx_path), "CPU", config)
        self.tile, self.precision = tile, precision

    def _probabilities(self, batch):
        return _softmax_green(self.compiled([batch])[0])


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError MPS and older builds raise."""
    import torch
    oom_type = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(err, oom_type) or (isinstance(err, RuntimeError)
                                         and "out of memory" in str(err).lower())


class TorchEngine(Engine):
    """PyTorch forward that survives running out of GPU memory: the batch is split in
    halves, the smaller size is kept for the rest of the run, and only a single tile
    that does not fit is an error. fp16/bf16 autocast on CUDA only."""
    name = "torch"

    def __init__(self, model, precision="fp32", warn=None):
        import torch
        if precision not in PRECISIONS:
            raise EngineError(f"precision {precision!r}: choose one of "
                              f"{', '.join(PRECISIONS)}")
        self.model = model
        self.torch_device = next(model.parameters()).device
        self.device = str(self.torch_device)
        dtypes = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
        self.dtype = dtypes[precision] if self.torch_device.type == "cuda" else None
        self.precision = precision if self.dtype is not None else "fp32"
        self.warn = warn or (lambda msg: None)

    def _run(self, x):
        import torch
        autocast = (torch.autocast("cuda", dtype=self.dtype) if self.dtype is not None
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            logits = self.model(x)
        return torch.softmax(logits.float(), dim=1)[:, GREEN]

    def __call__(self, inputs) -> np.ndarray:
        import torch
        batch = np.stack(inputs)
        out, start = [], 0
        while start < len(batch):
            size = min(len(batch) - start, self.max_batch or len(batch))
            x = torch.from_numpy(batch[start:start + size]).to(self.torch_device)
            try:
                prob = self._run(x)
            except Exception as err:  # noqa: BLE001 - only OOM is handled
                if not is_out_of_memory(err):
                    raise
                del x
                if self.torch_device.type == "cuda":
                    torch.cuda.empty_cache()
                if size == 1:
                    raise EngineError(
                        f"one tile does not fit in the memory of {self.device}; use a "
                        "smaller tile size or the CPU") from None
                self.max_batch = size // 2
                self.warn(f"out of memory on {self.device} with {size} tiles per "
                          f"batch; going on with {self.max_batch}")
                continue
            out.append(prob.cpu().numpy())
            start += size
        return np.concatenate(out)


def as_engine(model_or_engine, precision="fp32", warn=None) -> Engine:
    """An Engine as it is; a PyTorch model wrapped in the torch engine."""
    if isinstance(model_or_engine, Engine):
        return model_or_engine
    return TorchEngine(model_or_engine, precision, warn)


# ---------------------------------------------------------------- ONNX files

def _cached_onnx(model_path: Path, card: dict, tile: int) -> Path:
    """Where a graph that did not ship is exported: beside the model when that folder
    is writable (``<name>.onnx`` for the card's tile size, ``<name>.t<tile>.onnx``
    for another), else, and for the bundled models, in the cache folder under the
    weights' hash. A graph the card lists is never overwritten."""
    shipped = (card.get("onnx") or {}).get("file")
    name = onnx_beside(model_path).name
    if tile != int(card.get("tile_size", 512)) or name == shipped:
        name = f"{model_path.stem}.t{tile}.onnx"
    beside = model_path.parent / name
    bundled = model_path.resolve().parent == MODELS_DIR.resolve()
    if not bundled and os.access(model_path.parent, os.W_OK) and (
            not beside.exists() or os.access(beside, os.W_OK)):
        return beside
    key = (card.get("sha256") or file_sha256(model_path))[:16]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return CACHE_DIR / f"{model_path.stem}-{key}-{tile}.onnx"


def ensure_onnx(model_path, card: dict, tile: int, log=None) -> Path:
    """The verified ONNX graph of ``model_path`` for ``tile`` px tiles; exported (with
    PyTorch) when missing, outdated or of another tile size."""
    model_path = Path(model_path)
    log = log or (lambda msg: None)
    entry = card.get("onnx") or {}
    shipped = model_path.parent / entry["file"] if entry.get("file") else None
    if shipped is not None and shipped.exists() and entry.get("tile_size") == tile:
        if entry.get("sha256") and file_sha256(shipped) != entry["sha256"]:
            raise ModelFileError(
                f"{shipped.name} is not the ONNX graph its card describes (SHA-256 "
                "differs): it is incomplete, damaged or replaced; delete it so it is "
                "exported again, or copy it again")
        return shipped
    target = _cached_onnx(model_path, card, tile)
    stamp = Path(f"{target}.json")
    weights = card.get("sha256") or file_sha256(model_path)
    if target.exists() and stamp.exists():
        try:
            info = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            info = {}
        if info.get("weights_sha256") == weights and info.get("sha256") == \
                file_sha256(target):
            return target
    if not installed("torch"):
        raise EngineError(f"{model_path.name} has no ONNX graph for {tile} px tiles and "
                          "PyTorch, which would export it, is not installed: install "
                          "PyTorch once, or use a model file with its .onnx beside it")
    if not importable("onnx"):
        raise OnnxExportUnavailable(
            f"{model_path.name} has no ONNX graph for {tile} px tiles and it cannot be "
            "exported: PyTorch's exporter needs the Python package 'onnx' (pip install "
            "onnx==1.23.2); or run it with engine 'torch'")
    from .files import load_model
    log(f"exporting {model_path.name} to ONNX ({tile} px tiles) into {target.parent}; "
        "this happens once")
    model, _ = load_model(model_path, "cpu")
    info = export_onnx(model, tile, target)
    stamp.write_text(json.dumps({"weights_sha256": weights, **info}), encoding="utf-8")
    return target


# ---------------------------------------------------------------- choosing

def _torch_device_wanted(device: str) -> bool:
    """A GPU run (cuda/mps asked for, or auto with PyTorch seeing one)."""
    if device in ("cuda", "mps") or device.startswith("cuda:"):
        return True
    if device != "auto" or not importable("torch"):
        return False
    import torch
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps is not None and mps.is_available())


def resolve_engine(engine: str = "auto", device: str = "auto") -> str:
    """The engine ``auto`` stands for: PyTorch on a GPU, else ONNX Runtime, else
    PyTorch; a named engine that is not installed is an error."""
    engine = (engine or "auto").lower()
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose one of "
                          f"{', '.join(ENGINES)}")
    modules = {"onnxruntime": "onnxruntime", "openvino": "openvino", "torch": "torch"}
    if engine != "auto":
        if not installed(modules[engine]):
            raise EngineError(f"engine {engine!r} is not installed (Python package "
                              f"'{modules[engine]}'); install it or use engine 'auto'")
        if engine != "torch" and device not in ("auto", "cpu"):
            raise EngineError(f"engine {engine!r} runs on the CPU here; use device "
                              "'cpu' or 'auto', or the torch engine for a GPU")
        return engine
    if _torch_device_wanted(device):
        if not installed("torch"):
            raise EngineError(f"device {device!r} needs PyTorch, which is not "
                              "installed; use device 'cpu'")
        return "torch"
    for name in ("onnxruntime", "torch", "openvino"):
        if installed(modules[name]) and (name != "torch" or importable("torch")):
            return name
    raise EngineError("no inference engine is installed: install onnxruntime (mapping "
                      "only, small) or PyTorch (also training)")


def _torch_engine(path, device, precision, warn):
    from .files import load_model
    model, card = load_model(path, device)
    return TorchEngine(model, precision, warn), card


def load_engine(path=None, device: str = "auto", engine: str = "auto", *,
                precision: str = "fp32", tile: int | None = None, raster_size=None,
                feedback: Feedback = SILENT) -> tuple[Engine, dict]:
    """(engine ready to run, model card) for the model file ``path`` (default: the
    bundled model, the full one on a CUDA GPU where its file is present). ``tile``:
    the tile size the run will use (default: the card's). ``raster_size`` (width,
    height): with ``auto``, a raster smaller than one tile runs on PyTorch where it
    is installed, so its map is the one of a tile of its own size."""
    name = resolve_engine(engine, device)
    if name == "onnxruntime" and (engine or "auto") == "auto" and raster_size:
        card_tile = tile or read_card(Path(path) if path else DEFAULT_MODEL).get(
            "tile_size", 512)
        # torch is imported only for a raster that needs it, not for every run
        if min(raster_size) < int(card_tile) and importable("torch"):
            name = "torch"
    if name == "torch":
        return _torch_engine(path, device, precision, feedback.warning)
    if precision != "fp32" and name == "onnxruntime":
        raise EngineError(f"the onnxruntime engine runs fp32; precision {precision!r} "
                          "needs the openvino or torch engine")
    model_path = Path(path) if path else DEFAULT_MODEL  # CPU: the light model
    if not model_path.exists():
        raise ModelFileError(f"model file {model_path} does not exist")
    card = read_card(model_path)
    verify_sha256(model_path, card)
    tile = int(tile or card.get("tile_size", 512))
    try:
        onnx_path = ensure_onnx(model_path, card, tile, feedback.info)
    except OnnxExportUnavailable as err:
        if (engine or "auto") != "auto":
            raise
        feedback.warning(f"{err}. Running on PyTorch instead.")
        return _torch_engine(model_path, device, precision, feedback.warning)
    if name == "openvino":
        return OpenVinoEngine(onnx_path, tile, precision), card
    return OnnxRuntimeEngine(onnx_path, tile), card
