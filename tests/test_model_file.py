"""Model files and cards: loading, saving, and clear errors for bad files."""
import json

import pytest
import torch

from ugs_plugin.core.model_file import (DEFAULT_MODEL, ModelFileError, choose_device,
                                        load_model, save_model)
from ugs_plugin.core.ugsnet import build_model


def test_bundled_model_loads_with_its_card():
    model, card = load_model(None, "cpu")
    assert DEFAULT_MODEL.exists() and DEFAULT_MODEL.with_suffix(".json").exists()
    assert card["variant"] == "light" and not model.training
    assert card["input_bands"] == ["red", "green", "blue"]
    assert card["tile_size"] % 16 == 0
    assert "attribution" in card and card["validation"]["f1"] > 0


def test_save_then_load_round_trip(tmp_path):
    model = build_model("light").eval()
    path = save_model(model, {"name": "round trip", "tile_size": 256}, tmp_path / "m.pt")
    loaded, card = load_model(path, "cpu")
    assert card["name"] == "round trip" and card["variant"] == "light"
    assert json.loads(path.with_suffix(".json").read_text())["parameters"] > 0
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert not list(tmp_path.glob(".*part*"))  # no temporary files left


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.pt")


def test_truncated_file(tmp_path):
    path = save_model(build_model("light"), {}, tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or not a state_dict"):
        load_model(path)


def test_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights")
    with pytest.raises(ModelFileError, match="not a readable PyTorch model file"):
        load_model(path)


class Payload:
    pass


def test_pickled_objects_are_refused(tmp_path):
    """weights_only=True: a file that would need arbitrary unpickling is refused."""
    path = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, path)
    with pytest.raises(ModelFileError):
        load_model(path)


def test_mismatched_keys_are_named(tmp_path):
    # Light weights with a card claiming the full model.
    path = save_model(build_model("light"), {"variant": "light"}, tmp_path / "m.pt")
    card = json.loads(path.with_suffix(".json").read_text())
    card["variant"] = "full"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    text = str(err.value)
    assert "missing key(s): backbone." in text
    assert "with another shape" in text and "variant" in text


def test_unknown_variant_in_card(tmp_path):
    path = save_model(build_model("light"), {}, tmp_path / "m.pt")
    path.with_suffix(".json").write_text(json.dumps({"variant": "huge"}))
    with pytest.raises(ModelFileError, match="huge"):
        load_model(path)


def test_device_choice():
    assert choose_device("auto").type in ("cuda", "mps", "cpu")
    assert choose_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert choose_device("auto").type in ("mps", "cpu")
        with pytest.raises(ModelFileError, match="no CUDA GPU"):
            choose_device("cuda")
    with pytest.raises(ModelFileError, match="unknown device"):
        choose_device("quantum")
