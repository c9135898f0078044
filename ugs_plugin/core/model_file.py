"""Model files: ``<name>.pt`` (a bare state_dict) + ``<name>.json`` (the model card).

Weights are read with ``torch.load(weights_only=True)``: a model file can never run
code. A bare ``.pt`` without a card is taken as the authors' full UGSNet (RGB,
[-1, 1] scaling), so their checkpoints load as they are.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .outputs import atomic_output
from .ugsnet import (LAYOUT_VERSION, UNUSED_DECODER_PREFIXES, VARIANTS, build_model,
                     convert_layout_1_to_2)

PACKAGE_DIR = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = PACKAGE_DIR / "models" / "ugsnet_light.pt"

DEFAULT_CARD = {
    "name": "UGSNet (authors' checkpoint)",
    "variant": "full",
    "input_bands": ["red", "green", "blue"],
    "input_scaling": "minus_one_one",
    "tile_size": 512,
    "classes": {"0": "other", "1": "green space"},
}


class ModelFileError(ValueError):
    """The model file cannot be used; the message says what is wrong."""


def card_path(model_path) -> Path:
    return Path(model_path).with_suffix(".json")


def read_card(model_path) -> dict:
    path = card_path(model_path)
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


def load_model(path=None, device="auto"):
    """(model in eval mode on ``device``, card dict). Default: the bundled model."""
    path = Path(path) if path else DEFAULT_MODEL
    card = read_card(path)
    state = _read_state_dict(path)
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
    return model.to(choose_device(device)), card


def save_model(model, card: dict, path):
    """Write ``path`` (.pt) and its card atomically; the card records the variant."""
    path = Path(path)
    card = dict(card)
    card.setdefault("variant", getattr(model, "variant", "full"))
    card.setdefault("input_bands", DEFAULT_CARD["input_bands"])
    card.setdefault("input_scaling", DEFAULT_CARD["input_scaling"])
    card.setdefault("classes", DEFAULT_CARD["classes"])
    card["parameters"] = sum(p.numel() for p in model.parameters())
    card["layout"] = LAYOUT_VERSION
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_output(path, ".pt") as tmp:
        torch.save(state, tmp)
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    with atomic_output(card_path(path), ".json") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path
