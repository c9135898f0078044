"""Model cards and file checks that need no PyTorch: where the bundled models are,
reading a card (``<name>.json`` beside ``<name>.pt``), SHA-256 verification. The
mapping engines (ONNX Runtime) use this without importing torch."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ... import PLUGIN_DIR
from ..config import LAYOUT_VERSION, VARIANTS
from ..errors import UgsError




MODELS_DIR = PLUGIN_DIR / "models"


DEFAULT_MODEL = MODELS_DIR / "ugsnet_light.pt"


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


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, card: dict):
    expected = card.get("sha256")
    if expected and file_sha256(path) != expected.lower():
        raise ModelFileError(
            f"{path.name} is not the file its card {card_path(path).name} describes "
            "(SHA-256 differs): it is incomplete, damaged or replaced. Download or copy "
            "it again; if you changed the weights on purpose, remove \"sha256\" from "
            "the card.")
