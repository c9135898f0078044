"""Model files: ``<name>.pt`` (a bare state_dict) + ``<name>.json`` (the model card).

Weights are read with ``torch.load(weights_only=True)``: a model file can never run
code. A bare ``.pt`` without a card is taken as the authors' full UGSNet (RGB,
[-1, 1] scaling), so their checkpoints load as they are.

A card may record the SHA-256 of its weights (``save_model`` always does); such a
file is verified before use, so a truncated or swapped download is an error, not a
wrong map. Weights may be stored as int8 with one scale per output channel
(``weight_storage: int8_per_channel``) to halve a large file; they are expanded to
float32 on load.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..config import LAYOUT_VERSION
from .card import (card_path, DEFAULT_CARD, DEFAULT_MODEL,
                   file_sha256, FULL_MODEL, ModelFileError, read_card,
                   verify_sha256)
from ..outputs import atomic_output
from .ugsnet import build_model, convert_layout_1_to_2, UNUSED_DECODER_PREFIXES

# The method's full UGSNet: too large for the plugin zip, fetched separately into
# models/ beside its card (which ships and holds its SHA-256).


def default_model(device: torch.device) -> Path:
    """The full UGSNet on a CUDA GPU when its file is there, else the light one."""
    if device.type == "cuda" and FULL_MODEL.exists():
        return FULL_MODEL
    return DEFAULT_MODEL


def choose_device(requested: str = "auto") -> torch.device:
    """auto → cuda → mps → cpu; an explicit device that is absent is an error."""
    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ModelFileError("device 'cuda' was asked for but PyTorch sees no CUDA GPU "
                             f"(torch {torch.__version__}); use 'auto' or 'cpu'")
    if requested == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ModelFileError("device 'mps' was asked for but is not available; "
                                 "use 'auto' or 'cpu'")
    try:
        return torch.device(requested)
    except RuntimeError:
        raise ModelFileError(f"unknown device {requested!r}; use auto, cpu or cuda") \
            from None


INT8_SCALE_SUFFIX = ":scale"


def quantize_int8(state: dict) -> dict:
    """Conv/linear weights → int8 + per-output-channel float32 scale; the rest as is."""
    out = {}
    for key, value in state.items():
        if value.is_floating_point() and value.dim() >= 2:
            scale = value.float().abs().flatten(1).amax(1).clamp(min=1e-12) / 127.0
            shape = (-1,) + (1,) * (value.dim() - 1)
            out[key] = torch.round(value.float() / scale.view(shape)).to(torch.int8)
            out[key + INT8_SCALE_SUFFIX] = scale
        else:
            out[key] = value
    return out


def dequantize_int8(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        if key.endswith(INT8_SCALE_SUFFIX):
            continue
        scale = state.get(key + INT8_SCALE_SUFFIX)
        if scale is not None:
            value = value.float() * scale.view((-1,) + (1,) * (value.dim() - 1))
        out[key] = value
    return out


def _read_state_dict(path: Path) -> dict:
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        raise ModelFileError(f"{path} is not a readable PyTorch model file (truncated or "
                             f"not a state_dict: {str(err).splitlines()[0][:200]})") \
            from None
    # Training checkpoints often wrap the weights.
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ModelFileError(f"{path} does not hold a state_dict of tensors")
    # Weights saved from nn.DataParallel carry a "module." prefix.
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_model(path: str | Path | None = None,
               device: str = "auto") -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on ``device``, card dict). Default: the bundled model
    (the full one on a CUDA GPU where its file is present)."""
    target = choose_device(device)
    path = Path(path) if path else default_model(target)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    card = read_card(path)
    verify_sha256(path, card)
    state = _read_state_dict(path)
    if card.get("weight_storage") == "int8_per_channel":
        state = dequantize_int8(state)
    state = {k: v for k, v in state.items() if not k.startswith(UNUSED_DECODER_PREFIXES)}
    if card.get("layout") == 1:
        state = convert_layout_1_to_2(state)
    elif card.get("layout") != LAYOUT_VERSION:
        raise ModelFileError(f"model card {card_path(path)} has layout "
                             f"{card.get('layout')!r}; this plugin reads layouts 1 and "
                             f"{LAYOUT_VERSION}: update the plugin")
    model = build_model(card["variant"], in_channels=len(card["input_bands"]))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state)
                         if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        def head(keys):
            return ", ".join(keys[:5]) + (f" … (+{len(keys) - 5})" if len(keys) > 5 else "")
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {head(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {head(unexpected)}")
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} key(s) with another shape: "
                         f"{head(wrong_shape)}")
        raise ModelFileError(
            f"{path} does not match UGSNet variant '{card['variant']}' with "
            f"{len(card['input_bands'])} input bands ({'; '.join(parts)}). Check the "
            "variant and input_bands in its card " + f"({card_path(path).name}).")
    model.load_state_dict(state)
    model.eval()
    return model.to(target), card


def save_model(model: torch.nn.Module, card: dict, path: str | Path,
               weight_storage: str = "float32", onnx: bool = True, warn=None) -> Path:
    """Write ``path`` (.pt), its ONNX graph (``<name>.onnx``, for the mapping engines;
    ``onnx=False`` skips it) and its card, each atomically; the card records the
    variant, the layout, the weight storage, the files' SHA-256 and the ONNX opset.
    Without the ``onnx`` package the weights and card are still written (a finished
    training is never thrown away) and ``warn`` says so; the graph is exported on
    first use once it is installed, and until then mapping runs on PyTorch."""
    from .onnx_export import (export_onnx, importable, onnx_beside,
                              onnx_missing_message)
    if weight_storage not in ("float32", "int8_per_channel"):
        raise ModelFileError(f"unknown weight storage {weight_storage!r}")
    path = Path(path)
    card = dict(card)
    card.setdefault("variant", getattr(model, "variant", "full"))
    card.setdefault("input_bands", DEFAULT_CARD["input_bands"])
    card.setdefault("input_scaling", DEFAULT_CARD["input_scaling"])
    card.setdefault("classes", DEFAULT_CARD["classes"])
    card.setdefault("tile_size", DEFAULT_CARD["tile_size"])
    card["parameters"] = sum(p.numel() for p in model.parameters())
    card["layout"] = LAYOUT_VERSION
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if weight_storage == "int8_per_channel":
        state = quantize_int8(state)
    card["weight_storage"] = weight_storage
    card.pop("onnx", None)
    with atomic_output(path, ".pt") as tmp:
        torch.save(state, tmp)
        card["sha256"] = file_sha256(tmp)
    if onnx and not importable("onnx"):
        onnx = False
        if warn:
            warn(onnx_missing_message(path.name))
    if onnx:
        device = next(model.parameters()).device
        was_training = model.training
        card["onnx"] = export_onnx(model, int(card["tile_size"]), onnx_beside(path))
        model.to(device).train(was_training)
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    with atomic_output(card_path(path), ".json") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path
