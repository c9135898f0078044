"""UGSNet and the discriminator against the authors' checkpoint layout."""
import pytest
import torch

from ugs_plugin.core.model.card import MODELS_DIR
from ugs_plugin.core.model.files import load_model
from ugs_plugin.core.model.ugsnet import (build_model, PatchDiscriminator, uncertainty,
                                          UNUSED_DECODER_PREFIXES)

from conftest import SAMPLE_SCENE, SHARED

REFERENCE = SHARED / "reference"


def read_reference(name):
    rows = {}
    for line in (REFERENCE / name).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, *used = line.split("\t")
        dims = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
        rows[key] = (dims, (used or ["yes"])[0] == "yes")
    return rows


def test_full_model_matches_authors_state_dict():
    ref = read_reference("ugsnet_state_dict.tsv")
    assert len(ref) == 464
    ours = {k: tuple(v.shape) for k, v in build_model("full").state_dict().items()}
    used = {k: s for k, (s, u) in ref.items() if u}
    unused = [k for k, (_, u) in ref.items() if not u]
    assert ours == used
    # Every unused key is one our loader knows to drop, and none of ours is.
    assert all(k.startswith(UNUSED_DECODER_PREFIXES) for k in unused)
    assert not any(k.startswith(UNUSED_DECODER_PREFIXES) for k in ours)
    unused_params = sum(torch.Size(s).numel() for k, (s, u) in ref.items()
                        if not u and not k.endswith(("running_mean", "running_var",
                                                     "num_batches_tracked")))
    assert unused_params == 273_396
    n_params = sum(p.numel() for p in build_model("full").parameters())
    assert n_params + unused_params == 32_361_946  # the reference's total


def test_discriminator_matches_authors_state_dict():
    ref = {k: s for k, (s, _) in read_reference("discriminator_state_dict.tsv").items()}
    disc = PatchDiscriminator()
    assert {k: tuple(v.shape) for k, v in disc.state_dict().items()} == ref
    assert sum(p.numel() for p in disc.parameters()) == 2_763_713
    out = disc(torch.softmax(torch.randn(2, 2, 512, 512), 1))
    assert out.shape == (2, 1, 16, 16)


def randomize(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype.is_floating_point:
                if name.endswith("running_var"):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.05)
    return model


def test_authors_checkpoint_loads_unchanged_and_gives_same_output(tmp_path):
    """A bare .pt with all 464 keys (unused decoder modules included, as the authors'
    code saves it) loads without a card as full UGSNet and predicts the same."""
    reference_model = randomize(build_model("full")).eval()
    state = dict(reference_model.state_dict())
    for key, (shape, used) in read_reference("ugsnet_state_dict.tsv").items():
        if not used:
            state[key] = torch.zeros(shape) if shape else torch.tensor(0)
    assert len(state) == 464
    path = tmp_path / "authors_checkpoint.pt"
    torch.save(state, path)
    loaded, card = load_model(path, "cpu")
    assert card["variant"] == "full"
    x = torch.randn(1, 3, 96, 96)
    with torch.inference_mode():
        assert torch.equal(loaded(x), reference_model(x))


@pytest.mark.parametrize("variant", ["full", "light", "lean"])
def test_eval_maps_512_to_512_two_class_logits(variant):
    model = build_model(variant).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 512, 512))
    assert out.shape == (1, 2, 512, 512)
    assert torch.isfinite(out).all()


def test_eval_handles_sizes_that_are_not_multiples_of_16():
    model = build_model("light").eval()
    with torch.inference_mode():
        assert model(torch.randn(2, 3, 100, 72)).shape == (2, 2, 100, 72)


def test_train_mode_returns_coarse_logits_and_points():
    model = build_model("light").train()
    out = model(torch.randn(2, 3, 128, 128))
    assert out["coarse"].shape == (2, 2, 32, 32)          # 1/4 resolution
    assert out["rend"].shape == (2, 2, 4 * 128)           # 4W points per tile
    assert out["points"].shape == (2, 4 * 128, 2)
    assert out["points"].min() >= 0 and out["points"].max() <= 1
    # The points must depend on the coarse map: 75 % are chosen by uncertainty.
    out["rend"].sum().backward()
    assert model.pointhead.mlp.weight.grad.abs().sum() > 0


def test_point_refinement_re_predicts_at_most_1024_points_per_step():
    """Each x2 step is the bilinear upsampling of the previous one except at no more
    than 1024 re-predicted points."""
    model = randomize(build_model("light")).eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        c1, c2, c3, c4 = model.backbone(x)
        coarse = model.decoder(c1, c2, c3, c4)
        half = model.pointhead.refine(coarse, c2, (64, 64))
        full = model.pointhead.refine(coarse, c2, (128, 128))
        assert torch.equal(full, model(x))
    upsampled = torch.nn.functional.interpolate(half, scale_factor=2, mode="bilinear",
                                                align_corners=True)
    changed = (full != upsampled).any(dim=1)
    assert 0 < changed.sum() <= 1024


def test_two_class_uncertainty_is_the_top_two_margin_exactly():
    """The two-class shortcut (no full-map TopK in the exported graph) gives the same
    values as the margin of the two best classes, ties and signs included; more
    classes take the general form."""
    logits = torch.randn(3, 2, 40, 40) * 5
    logits[0, 1, :4] = logits[0, 0, :4]                         # exact ties
    top2 = torch.topk(logits, 2, dim=1).values
    assert torch.equal(uncertainty(logits), top2[:, 1] - top2[:, 0])
    three = torch.randn(2, 3, 8, 8)
    top2 = torch.topk(three, 2, dim=1).values
    assert torch.equal(uncertainty(three), top2[:, 1] - top2[:, 0])


def test_bundled_graph_sorts_only_to_pick_points():
    """The shipped ONNX graphs use TopK only to pick the re-predicted points (one per
    x2 step), not per pixel over the classes (a tenth of a tile's time)."""
    import onnx
    for name in ("ugsnet_light.onnx", "ugsnet_light.int8.onnx"):
        graph = onnx.load(str(MODELS_DIR / name)).graph
        topk = [n for n in graph.node if n.op_type == "TopK"]
        assert len(topk) == 2, name


def test_the_graphs_form_of_the_point_head_gives_the_logits_of_the_forward():
    """logits_for_export (what the ONNX graphs compute: the MLP's fine term from a
    2-channel map) is forward's logits: the same classes on real tiles, values within
    rounding, odd sizes too."""
    import numpy as np
    import rasterio
    model, _ = load_model(MODELS_DIR / "ugsnet_light.pt", "cpu")
    with rasterio.open(SAMPLE_SCENE) as src:
        image = src.read((1, 2, 3), window=((0, 640), (0, 640))).astype(np.float32)
    x = torch.from_numpy(image / 127.5 - 1)
    for batch in (torch.stack([x[:, :512, :512], x[:, 128:, 128:]]), x[None, :, :100, :130]):
        with torch.inference_mode():
            logits, graphs = model.eval()(batch), model.logits_for_export(batch)
        assert graphs.shape == logits.shape == (len(batch), 2, *batch.shape[2:])
        # A near tie in the ranking of the 1024 points may move one (as in ONNX)
        assert (graphs.argmax(1) == logits.argmax(1)).float().mean() >= 0.9999
        assert ((graphs - logits).abs() <= 1e-3).float().mean() >= 0.99999
