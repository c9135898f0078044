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

import hashlib
import json
from pathlib import Path

import torch

from .outputs import atomic_output
from .ugsnet import (LAYOUT_VERSION, UNUSED_DECODER_PREFIXES, VARIANTS, build_model,
                     convert_layout_1_to_2)
from .errors import UgsError

PACKAGE_DIR = Path(__file__).resolve().parents[2]
MODELS_DIR = PACKAGE_DIR / "models"
DEFAULT_MODEL = MODELS_DIR / "ugsnet_light.pt"
# The method's full UGSNet: too large for the plugin zip, fetched separately into
# models/ beside its card (which ships and holds its SHA-256).
FULL_MODEL = MODELS_DIR / "ugsnet_full.pt"

DEFAULT_CARD = {
    "name": "UGSNet (authors' checkpoint)",
    "variant": "full",
    "input_bands": ["red", "green", "blue"],
    "input_scaling": "minus_one_one",
    "tile_size": 512,
    "classes": {"0": "other", "1": "green space"},
}


class ModelFileError(UgsError):
    """The model file cannot be used; the message says what is wrong."""


def card_path(model_path) -> Path:
    return Path(model_path).with_suffix(".json")


def bundled_card_for(model_path) -> Path | None:
    """The card in models/ whose SHA-256 is this file's: a bundled model's weights
    copied elsewhere without their card still load as what they are."""
    digest = None
    for candidate in sorted(MODELS_DIR.glob("*.json")):
        try:
            expected = json.loads(candidate.read_text(encoding="utf-8")).get("sha256")
        except (OSError, json.JSONDecodeError):
            continue
        if expected:
            digest = digest or file_sha256(model_path)
            if digest == expected:
                return candidate
    return None


def default_model(device: torch.device) -> Path:
    """The full UGSNet on a CUDA GPU when its file is there, else the light one."""
    if device.type == "cuda" and FULL_MODEL.exists():
        return FULL_MODEL
    return DEFAULT_MODEL


def read_card(model_path) -> dict:
    path = card_path(model_path)
    if not path.exists() and Path(model_path).exists():
        path = bundled_card_for(model_path) or path
    card = dict(DEFAULT_CARD, layout=LAYOUT_VERSION)
    if path.exists():
        try:
            written = json.loads(path.read_text(encoding="utf-8"))
            # Cards that this plugin wrote before "layout" existed hold "parameters";
            # their weights are in layout 1. Hand-written cards follow the authors'.
            if "layout" not in written and "parameters" in written:
                written["layout"] = 1
            card.update(written)
        except json.JSONDecodeError as err:
            raise ModelFileError(f"model card {path} is not valid JSON ({err}); fix or "
                                 "delete it (without a card the file is read as full "
                                 "UGSNet)") from None
    if card.get("variant") not in VARIANTS:
        raise ModelFileError(f"model card {path} names variant {card.get('variant')!r}; "
                             f"known variants: {sorted(VARIANTS)}")
    return card


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


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def verify_sha256(path: Path, card: dict):
    expected = card.get("sha256")
    if expected and file_sha256(path) != expected.lower():
        raise ModelFileError(
            f"{path.name} is not the file its card {card_path(path).name} describes "
            "(SHA-256 differs): it is incomplete, damaged or replaced. Download or copy "
            "it again; if you changed the weights on purpose, remove \"sha256\" from "
            "the card.")


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
               weight_storage: str = "float32") -> None:
    """Write ``path`` (.pt) and its card atomically; the card records the variant,
    the layout, the weight storage and the file's SHA-256."""
    if weight_storage not in ("float32", "int8_per_channel"):
        raise ModelFileError(f"unknown weight storage {weight_storage!r}")
    path = Path(path)
    card = dict(card)
    card.setdefault("variant", getattr(model, "variant", "full"))
    card.setdefault("input_bands", DEFAULT_CARD["input_bands"])
    card.setdefault("input_scaling", DEFAULT_CARD["input_scaling"])
    card.setdefault("classes", DEFAULT_CARD["classes"])
    card["parameters"] = sum(p.numel() for p in model.parameters())
    card["layout"] = LAYOUT_VERSION
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if weight_storage == "int8_per_channel":
        state = quantize_int8(state)
    card["weight_storage"] = weight_storage
    with atomic_output(path, ".pt") as tmp:
        torch.save(state, tmp)
        card["sha256"] = file_sha256(tmp)
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    with atomic_output(card_path(path), ".json") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path
