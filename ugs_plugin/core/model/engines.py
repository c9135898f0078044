"""Inference engines behind one interface: a batch of model-input tiles in, the
probability of green space out.

- ONNX Runtime: runs the ``<name>.onnx`` beside a model file, needs no PyTorch;
  fp32 (3 to 4 times PyTorch eager's speed on the same weights) or int8.
- OpenVINO, where installed: fp32, bf16 (on CPUs with bf16 instructions) or int8 (the
  model's quantized graph, model/quantize.py). What runs is read back from the
  compiled model, never taken from the request.
- PyTorch: CUDA/MPS, training-side code, and the fallback; a batch that runs out of
  GPU memory is split and the smaller size kept.

``load_engine`` picks one. On the CPU, engine and precision ``auto`` take the
measured default of the CPU's instruction-set family (config.CPU_DEFAULTS), and the
engine's ``reason`` says why. It exports the ONNX graph of a model that has none
when PyTorch is there (beside the model, or in a cache folder).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from ..config import CPU_DEFAULTS, ENGINES, GREEN, PRECISIONS
from ..errors import UgsError
from ..feedback import Feedback, SILENT
from .onnx_export import export_onnx, GRAPH_FORM, importable
from .card import (DEFAULT_MODEL, file_sha256, ModelFileError, MODELS_DIR, read_card,
                   verify_sha256)

CACHE_DIR = Path(os.environ.get("UGS_CACHE_DIR") or
                 Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "ugs_plugin")


OPENVINO_PIN = "openvino==2026.4.1"   # setup.sh and the installer install this one


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


# Instruction-set families, fastest first: (name, flags any of which marks it).
CPU_FAMILIES = (("amx", ("amx_bf16", "amx_int8")), ("avx512_bf16", ("avx512_bf16",)),
                ("avx512_vnni", ("avx512_vnni",)), ("avx_vnni", ("avx_vnni",)),
                ("avx512", ("avx512f",)), ("avx2", ("avx2",)))


# numpy's names of the instruction sets it dispatches on, as Linux names them.
NUMPY_FLAGS = {"AVX2": "avx2", "AVX512F": "avx512f", "AVX512VNNI": "avx512_vnni"}


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The CPU's instruction-set flags as Linux names them (/proc/cpuinfo); elsewhere
    (Windows, macOS) what numpy's run-time dispatch found, and OpenVINO's BF16 read
    as avx512_bf16. Read once: elsewhere it costs an OpenVINO start-up."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    flags = flags_from_numpy(numpy_cpu_features())
    if installed("openvino"):
        import openvino as ov
        caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if "BF16" in caps:
            flags.add("avx512_bf16")
    return frozenset(flags)


def numpy_cpu_features() -> dict:
    """numpy's {feature: present} of this CPU (a private table, moved in numpy 2)."""
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            return dict(importlib.import_module(module).__cpu_features__)
        except (ImportError, AttributeError):
            continue
    return {}


def flags_from_numpy(features: dict) -> set:
    return {flag for name, flag in NUMPY_FLAGS.items() if features.get(name)}


def cpu_family(flags=None) -> str:
    """The instruction-set family of ``flags`` (default: this CPU's; CPU_FAMILIES),
    else "baseline". For this CPU, UGS_CPU_FAMILY overrides it (to try another
    family's default)."""
    forced = os.environ.get("UGS_CPU_FAMILY", "").strip()
    if flags is None and forced:
        return forced
    flags = cpu_flags() if flags is None else set(flags)
    for name, marks in CPU_FAMILIES:
        if flags & set(marks):
            return name
    return "baseline"


def cpu_choice(engine: str = "auto", precision: str = "auto", family=None):
    """(engine, precision, reason) for a CPU run: ``auto`` in either takes the
    family's measured default (config.CPU_DEFAULTS) where its engine is installed,
    else ONNX Runtime fp32."""
    family = family or cpu_family()
    best = CPU_DEFAULTS.get(family)
    if precision != "auto":
        if engine == "auto":
            engine = "openvino" if precision in ("bf16", "fp16") or (
                precision == "int8" and installed("openvino")) else "onnxruntime"
        return engine, precision, f"{precision} as asked"
    if best is None:
        return ("onnxruntime" if engine == "auto" else engine), "fp32", (
            f"auto: fp32, the measured default for this CPU (family {family})")
    if engine not in ("auto", best[0]):
        return engine, "fp32", (f"auto: fp32 on {engine} ({best[1]} is measured on "
                                f"{best[0]} for this CPU, family {family})")
    if not installed(best[0]):
        return "onnxruntime", "fp32", (
            f"auto: fp32; this CPU (family {family}) maps faster with {best[0]} "
            f"{best[1]}, which is not installed (make setup, or the plugin's installer: "
            "faster mapping)")
    return best[0], best[1], (f"auto: {best[1]}, the measured default for this CPU "
                              f"(family {family}); precision fp32 keeps full precision")


class Engine:
    """``engine(inputs) -> probabilities``: inputs a list of (C, H, W) float32 tiles
    scaled as the card says, probabilities (N, H, W) float32 of green space."""
    name = "engine"
    device = "cpu"
    precision = "fp32"        # what runs, read back from the engine
    reason = ""               # why this engine and precision (auto's choice)
    max_batch = None          # a smaller batch size the engine settled on, if any

    def __call__(self, inputs) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        text = f"{self.name} ({self.precision}) on {self.device}"
        return f"{text}; {self.reason}" if self.reason else text


def _softmax_green(logits: np.ndarray) -> np.ndarray:
    """The softmax's green share of two classes: 1 / (1 + exp(other - green)), in
    place on one array (a fifth of the full softmax's time)."""
    other = 1 - GREEN
    p = logits[:, other].astype(np.float32) - logits[:, GREEN]
    with np.errstate(over="ignore"):  # exp overflows to inf: probability 0
        np.exp(p, out=p)
    p += 1
    return np.reciprocal(p, out=p)


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

    def __init__(self, onnx_path, tile, threads=None, precision="fp32"):
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
        self.tile, self.precision = tile, precision
        used = self.session.get_providers()[0]
        self.device = {"CUDAExecutionProvider": "cuda", "DmlExecutionProvider": "directml",
                       "CoreMLExecutionProvider": "coreml"}.get(used, "cpu")

    def _probabilities(self, batch):
        return _softmax_green(self.session.run(None, {self.input_name: batch})[0])


class OpenVinoEngine(_FixedTile):
    """OpenVINO on the CPU. ``precision``: fp32, bf16 or fp16, or int8 (the quantized
    graph, its other layers in fp32). ``self.precision`` is what the compiled model
    runs, read back from it. Tiles run one per request on parallel streams (the
    throughput mode): the graph's serial parts (point selection, layout changes) keep
    a core each busy instead of leaving one idle (1.2x on 2 cores)."""
    name = "openvino"
    HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}

    def __init__(self, onnx_path, tile, precision="fp32", threads=None):
        import openvino as ov
        if precision not in (*self.HINTS, "int8"):
            raise EngineError(f"precision {precision!r}: OpenVINO runs fp32, bf16, fp16 "
                              "or int8")
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": self.HINTS.get(precision, "f32"),
                  "PERFORMANCE_HINT": "THROUGHPUT",
                  "INFERENCE_NUM_THREADS": threads or cpu_threads()}
        try:  # compiled models kept: a later run starts 0.5 s sooner
            (CACHE_DIR / "openvino").mkdir(parents=True, exist_ok=True)
            config["CACHE_DIR"] = str(CACHE_DIR / "openvino")
        except OSError:
            pass
        try:
            # From the read model: the cache is keyed by its content, not its path.
            self.compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU",
                                               config)
        except RuntimeError as err:
            raise EngineError(f"OpenVINO cannot compile {Path(onnx_path).name} "
                              f"({str(err).strip().splitlines()[-1][:200]}); use the "
                              "onnxruntime engine") from None
        self.tile = tile
        self.precision, self.detail = self.compiled_precision()
        # Two requests per stream, so a stream never waits for Python between tiles.
        streams = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.requests = [self.compiled.create_infer_request()
                         for _ in range(2 * max(1, streams))]

    def describe(self) -> str:
        text = f"{self.name} ({self.detail}) on {self.device}"
        return f"{text}; {self.reason}" if self.reason else text

    def compiled_precision(self) -> tuple[str, str]:
        """(precision, detail) of what the compiled model runs: "int8" when its
        convolutions run on 8-bit integers, else its float precision."""
        names = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        hint = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        floats = names.get(hint, hint)
        convs = [op.get_rt_info()["runtimePrecision"].astype(str)
                 for op in self.compiled.get_runtime_model().get_ops()
                 if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
        ints = sum(p in ("u8", "i8") for p in convs)
        if not ints:
            return floats, floats
        return "int8", (f"int8: {ints} of {len(convs)} convolutions in int8, the other "
                        f"layers in {floats}")

    def _probabilities(self, batch):
        logits = []
        for start in range(0, len(batch), len(self.requests)):
            running = list(zip(self.requests, batch[start:start + len(self.requests)]))
            for request, tile in running:
                request.start_async({0: tile[None]})
            for request, _ in running:
                request.wait()
                logits.append(request.get_output_tensor(0).data.copy())
        return _softmax_green(np.concatenate(logits))


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
        precision = "fp32" if precision in (None, "auto") else precision
        if precision not in ("fp32", "bf16", "fp16"):
            raise EngineError(f"precision {precision!r}: the torch engine runs fp32, "
                              "or bf16/fp16 on a CUDA GPU; int8 runs on the openvino "
                              "or onnxruntime engine")
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

def _cached_onnx(model_path: Path, card: dict, tile: int, kind: str = "") -> Path:
    """Where a graph that did not ship is exported: beside the model when that folder
    is writable (``<name>.onnx`` for the card's tile size, ``<name>.t<tile>.onnx``
    for another; ``kind`` ".int8" for the quantized one), else, and for the bundled
    models, in the cache folder under the weights' hash. A graph the card lists is
    never overwritten."""
    shipped = {(card.get(key) or {}).get("file") for key in ("onnx", "onnx_int8")}
    name = f"{model_path.stem}{kind}.onnx"
    if tile != int(card.get("tile_size", 512)) or name in shipped:
        name = f"{model_path.stem}.t{tile}{kind}.onnx"
    beside = model_path.parent / name
    bundled = model_path.resolve().parent == MODELS_DIR.resolve()
    if not bundled and os.access(model_path.parent, os.W_OK) and (
            not beside.exists() or os.access(beside, os.W_OK)):
        return beside
    key = (card.get("sha256") or file_sha256(model_path))[:16]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return CACHE_DIR / f"{model_path.stem}-{key}-{tile}{kind}.onnx"


def _shipped_graph(model_path: Path, card: dict, key: str, tile: int):
    """The graph the card lists under ``key`` for ``tile``, verified; None if none."""
    entry = card.get(key) or {}
    shipped = model_path.parent / entry["file"] if entry.get("file") else None
    if shipped is None or not shipped.exists() or entry.get("tile_size") != tile:
        return None
    if entry.get("sha256") and file_sha256(shipped) != entry["sha256"]:
        raise ModelFileError(
            f"{shipped.name} is not the ONNX graph its card describes (SHA-256 "
            "differs): it is incomplete, damaged or replaced; delete it so it is "
            "made again, or copy it again")
    return shipped


def _fresh(target: Path, **sources) -> bool:
    """The graph at ``target`` was made from ``sources`` (its stamp says so)."""
    stamp = Path(f"{target}.json")
    if not (target.exists() and stamp.exists()):
        return False
    try:
        info = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(info.get(k) == v for k, v in sources.items()) and \
        info.get("sha256") == file_sha256(target)


def ensure_int8(model_path, card: dict, tile: int, fp32_graph: Path, log=None) -> Path:
    """The int8 graph of ``model_path`` for ``tile`` px tiles: the one the card lists
    (bundled models), else quantized from ``fp32_graph`` once (model/quantize.py)."""
    from .quantize import quantize_graph, RECIPE
    model_path = Path(model_path)
    shipped = _shipped_graph(model_path, card, "onnx_int8", tile)
    listed = (card.get("onnx") or {}).get("file")
    if shipped is not None and listed and Path(fp32_graph) == model_path.parent / listed:
        return shipped  # quantized from the graph in use (ensure_onnx verified it)
    target = _cached_onnx(model_path, card, tile, ".int8")
    graph = file_sha256(fp32_graph)
    if _fresh(target, graph_sha256=graph, recipe=RECIPE):
        return target
    (log or (lambda msg: None))(f"quantizing {model_path.name} to int8 ({tile} px "
                                f"tiles) into {target.parent}; this happens once")
    info = quantize_graph(fp32_graph, target, card, tile)
    Path(f"{target}.json").write_text(json.dumps({"graph_sha256": graph, **info}),
                                      encoding="utf-8")
    return target


def ensure_onnx(model_path, card: dict, tile: int, log=None) -> Path:
    """The verified ONNX graph of ``model_path`` for ``tile``; exported (with
    PyTorch) when missing, outdated or of another tile size. A graph of an older form
    (GRAPH_FORM) is exported again where PyTorch and onnx are installed, the card's
    own graph left as it is; elsewhere it is used as it is."""
    model_path = Path(model_path)
    log = log or (lambda msg: None)
    def can_export():  # asked only for an older graph: importing onnx takes time
        return installed("torch") and importable("onnx")
    shipped = _shipped_graph(model_path, card, "onnx", tile)
    if shipped is not None and (card["onnx"].get("form") == GRAPH_FORM or
                                not can_export()):
        return shipped
    target = _cached_onnx(model_path, card, tile)
    weights = card.get("sha256") or file_sha256(model_path)
    if _fresh(target, weights_sha256=weights, form=GRAPH_FORM):
        return target
    older = shipped or (target if _fresh(target, weights_sha256=weights) else None)
    if older is not None and not can_export():
        return older
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
    log(f"exporting {model_path.name} to ONNX ({tile} px tiles) into {target.parent}"
        + (f"; its graph {older.name} is of an older, slower form" if older else "")
        + "; this happens once")
    model, _ = load_model(model_path, "cpu")
    info = export_onnx(model, tile, target)
    Path(f"{target}.json").write_text(json.dumps({"weights_sha256": weights, **info}),
                                      encoding="utf-8")
    return target


# ---------------------------------------------------------------- choosing

def _torch_build_has_gpu() -> bool:
    """Whether the installed PyTorch could see a GPU, read from its version file
    without importing it: a CPU-only wheel would cost a mapping run a second of
    start-up (a fifth of a 4096² run) for nothing. macOS (MPS) and any file not read
    as expected count as yes."""
    if sys.platform == "darwin":
        return True
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:
        text = (Path(list(spec.submodule_search_locations)[0]) / "version.py").read_text(
            encoding="utf-8")
    except OSError:
        return True
    builds = re.findall(r"^(cuda|hip)\b[^=\n]*=\s*(.+)$", text, re.MULTILINE)
    return not builds or any(value.strip() != "None" for _, value in builds)


def _torch_device_wanted(device: str) -> bool:
    """A GPU run (cuda/mps asked for, or auto with PyTorch seeing one)."""
    if device in ("cuda", "mps") or device.startswith("cuda:"):
        return True
    if device != "auto" or not _torch_build_has_gpu() or not importable("torch"):
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
                precision: str = "auto", tile: int | None = None, raster_size=None,
                feedback: Feedback = SILENT) -> tuple[Engine, dict]:
    """(engine ready to run, model card) for the model file ``path`` (default: the
    bundled model, the full one on a CUDA GPU where its file is present). ``tile``:
    the tile size the run will use (default: the card's). ``raster_size`` (width,
    height): with ``auto``, a raster smaller than one tile runs on PyTorch where it
    is installed, so its map is the one of a tile of its own size. ``precision``
    ``auto``: the CPU family's measured default (cpu_choice), fp32 on a GPU."""
    engine = (engine or "auto").lower()
    precision = (precision or "auto").lower()
    if precision not in PRECISIONS:
        raise EngineError(f"precision {precision!r}: choose one of "
                          f"{', '.join(PRECISIONS)}")
    name = resolve_engine(engine, device)
    if name == "onnxruntime" and engine == "auto" and raster_size:
        card_tile = tile or read_card(Path(path) if path else DEFAULT_MODEL).get(
            "tile_size", 512)
        # torch is imported only for a raster that needs it, not for every run
        if min(raster_size) < int(card_tile) and importable("torch"):
            name = "torch"
    if name == "torch":
        return _torch_engine(path, device, precision, feedback.warning)
    asked = precision
    name, precision, reason = cpu_choice(engine if engine != "auto" else (
        "auto" if name == "onnxruntime" else name), precision)
    if not installed(name):
        raise EngineError(f"precision {precision} needs the {name} engine, which is not "
                          f"installed (pip install {OPENVINO_PIN}, or the plugin's "
                          "installer: faster mapping); or use precision fp32")
    if name == "onnxruntime" and precision not in ("fp32", "int8"):
        raise EngineError(f"the onnxruntime engine runs fp32 or int8; precision "
                          f"{precision!r} needs the openvino or torch engine")
    model_path = Path(path) if path else DEFAULT_MODEL  # CPU: the light model
    if not model_path.exists():
        raise ModelFileError(f"model file {model_path} does not exist")
    card = read_card(model_path)
    verify_sha256(model_path, card)
    tile = int(tile or card.get("tile_size", 512))
    try:
        graph = ensure_onnx(model_path, card, tile, feedback.info)
    except OnnxExportUnavailable as err:
        if engine != "auto":
            raise
        feedback.warning(f"{err}. Running on PyTorch instead.")
        return _torch_engine(model_path, device, "fp32", feedback.warning)
    if precision == "int8":
        from .quantize import QuantizationUnavailable
        try:
            graph = ensure_int8(model_path, card, tile, graph, feedback.info)
        except QuantizationUnavailable as err:
            if asked != "auto":
                raise EngineError(str(err)) from None
            feedback.warning(f"{err}; mapping in fp32 instead")
            precision, reason = "fp32", f"{reason}, but no int8 graph: fp32"
    if name == "openvino":
        runner = OpenVinoEngine(graph, tile, precision)
        if precision in ("bf16", "fp16") and runner.precision == "fp32":
            feedback.warning(f"{precision} was asked for, but this CPU has no {precision} "
                             "instructions: OpenVINO runs fp32")
    else:
        runner = OnnxRuntimeEngine(graph, tile, precision=precision)
    runner.reason = reason
    return runner, card
