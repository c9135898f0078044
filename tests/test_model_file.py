"""Model files and cards: loading, saving, and clear errors for bad files."""
import json

import pytest
import torch

from ugs_plugin.core.model.card import DEFAULT_MODEL, ModelFileError
from ugs_plugin.core.model.files import choose_device, load_model, save_model
from ugs_plugin.core.model.ugsnet import build_model


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


def test_truncated_file_is_caught_by_its_cards_hash(tmp_path):
    path = save_model(build_model("light"), {}, tmp_path / "m.pt")
    assert len(json.loads(path.with_suffix(".json").read_text())["sha256"]) == 64
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="m.pt is not the file its card m.json "
                                             "describes.*Download or copy it again"):
        load_model(path)


def test_truncated_file_without_a_card(tmp_path):
    path = tmp_path / "authors.pt"
    torch.save(build_model("full").state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or not a state_dict"):
        load_model(path)


def test_swapped_weights_are_refused(tmp_path):
    """Same size, other weights (a download replaced by another model)."""
    first = save_model(build_model("light"), {}, tmp_path / "a.pt")
    torch.manual_seed(1)
    second = save_model(build_model("light"), {}, tmp_path / "b.pt")
    first.write_bytes(second.read_bytes())
    with pytest.raises(ModelFileError, match="SHA-256 differs"):
        load_model(first)


def test_int8_storage_is_a_small_close_copy(tmp_path):
    """int8 per-channel weights: about a quarter of the file, the same classes on
    real imagery up to a few boundary pixels."""
    model, _ = load_model(None, "cpu")
    small = save_model(model, {"name": "int8"}, tmp_path / "m8.pt",
                       weight_storage="int8_per_channel")
    assert small.stat().st_size < 0.35 * DEFAULT_MODEL.stat().st_size
    loaded, card = load_model(small, "cpu")
    assert card["weight_storage"] == "int8_per_channel"
    import numpy as np
    import rasterio
    from conftest import naip_path
    with rasterio.open(naip_path("claremont_2020_5")) as src:
        x = torch.from_numpy(src.read((1, 2, 3)).astype(np.float32) / 127.5 - 1)[None]
    with torch.inference_mode():
        p32 = torch.softmax(model(x), 1)[:, 1]
        p8 = torch.softmax(loaded(x), 1)[:, 1]
    assert ((p32 > 0.5) == (p8 > 0.5)).float().mean() > 0.995
    assert (p32 - p8).abs().mean() < 0.01


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


def test_files_written_by_plugin_0_1_0_are_converted_on_load(tmp_path):
    """A model saved by 0.1.0 (card with "parameters", no "layout"; old wiring) gives
    the same map after loading as the model it was saved from."""
    from test_ugsnet_reference import legacy_weights
    model, _ = load_model(None, "cpu")
    path = tmp_path / "adapted_in_0_1_0.pt"
    torch.save(legacy_weights(model.state_dict()), path)
    path.with_suffix(".json").write_text(json.dumps(
        {"name": "old", "variant": "light", "parameters": 1165398, "tile_size": 512}))
    loaded, card = load_model(path, "cpu")
    assert card["layout"] == 1
    x = torch.randn(1, 3, 96, 128)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)


def test_unknown_layout_is_refused(tmp_path):
    path = save_model(build_model("light"), {}, tmp_path / "m.pt")
    card = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps(dict(card, layout=7)))
    with pytest.raises(ModelFileError, match="layout 7.*update the plugin"):
        load_model(path)


def test_bundled_weights_copied_without_their_card_load_as_what_they_are(tmp_path):
    copy = tmp_path / "my_copy.pt"
    copy.write_bytes(DEFAULT_MODEL.read_bytes())
    _, card = load_model(copy, "cpu")
    assert card["variant"] == "light" and card["name"] == load_model(None, "cpu")[1]["name"]


def test_the_full_model_is_the_default_on_a_cuda_gpu_when_installed():
    from ugs_plugin.core.model.card import FULL_MODEL
    from ugs_plugin.core.model.files import default_model
    assert default_model(torch.device("cpu")) == DEFAULT_MODEL
    expected = FULL_MODEL if FULL_MODEL.exists() else DEFAULT_MODEL
    assert default_model(torch.device("cuda")) == expected
