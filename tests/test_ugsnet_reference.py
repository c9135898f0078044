"""UGSNet against a second, functional implementation written from DESIGN.md.

The functional forward below uses only the state_dict tensors and plain ``F.*`` calls
(no module of the plugin), so a wiring mistake in ``core/ugsnet.py`` (an H/W mix-up in
coordinate attention, the decoder's concatenation order) shows as a difference. Inputs
are non-square on purpose: with H == W an H/W swap can hide.
"""
import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F

from ugs_plugin.core.model.card import DEFAULT_MODEL
from ugs_plugin.core.model.files import load_model
from ugs_plugin.core.model.ugsnet import build_model

from conftest import naip_path

EPS = 1e-5


def bn(x, s, prefix):
    return F.batch_norm(x, s[prefix + ".running_mean"], s[prefix + ".running_var"],
                        s[prefix + ".weight"], s[prefix + ".bias"], False, 0.0, EPS)


def hswish(x):
    return x * torch.clamp(x + 3, 0, 6) / 6


def coord_attention(x, s, p, legacy=False):
    n, c, h, w = x.shape
    x_h = x.mean(3, keepdim=True)                      # N,C,H,1
    x_w = x.mean(2, keepdim=True).permute(0, 1, 3, 2)  # N,C,W,1
    y = F.conv2d(torch.cat([x_h, x_w], 2), s[p + ".conv1.weight"], s[p + ".conv1.bias"])
    y = hswish(bn(y, s, p + ".bn1"))
    y_h, y_w = y[:, :, :h], y[:, :, h:]
    a_h = torch.sigmoid(F.conv2d(y_h, s[p + ".conv_h.weight"], s[p + ".conv_h.bias"],
                                 padding=1))
    if legacy:  # this plugin up to 0.1.0: conv_w on (N,mid,W,1), transposed after
        a_w = torch.sigmoid(F.conv2d(y_w, s[p + ".conv_w.weight"],
                                     s[p + ".conv_w.bias"], padding=1)).permute(0, 1, 3, 2)
    else:       # DESIGN: back to (N,mid,1,W) first, so the kernel's middle row runs on W
        a_w = torch.sigmoid(F.conv2d(y_w.permute(0, 1, 3, 2), s[p + ".conv_w.weight"],
                                     s[p + ".conv_w.bias"], padding=1))
    g = x.mean((2, 3), keepdim=True)
    g = hswish(bn(F.conv2d(g, s[p + ".conv2.weight"], s[p + ".conv2.bias"]), s, p + ".bn2"))
    a_c = torch.sigmoid(F.conv2d(g, s[p + ".conv_c.weight"], s[p + ".conv_c.bias"]))
    return x * a_c * a_w * a_h


def bottleneck(x, s, p, stride, dilation):
    out = F.relu(bn(F.conv2d(x, s[p + ".conv1.weight"]), s, p + ".bn1"))
    out = F.relu(bn(F.conv2d(out, s[p + ".conv2.weight"], stride=stride,
                             padding=dilation, dilation=dilation), s, p + ".bn2"))
    out = bn(F.conv2d(out, s[p + ".conv3.weight"]), s, p + ".bn3")
    if p + ".downsample.0.weight" in s:
        x = bn(F.conv2d(x, s[p + ".downsample.0.weight"], stride=stride), s,
               p + ".downsample.1")
    return F.relu(out + x)


def stage(x, s, layer, stride, multigrid):
    index = 0
    while f"backbone.{layer}.{index}.conv1.weight" in s:
        dilation = (1, 2, 4)[index % 3] if multigrid else 1
        x = bottleneck(x, s, f"backbone.{layer}.{index}", stride if index == 0 else 1,
                       dilation)
        index += 1
    return x


def margin(logits):
    top = torch.topk(logits, 2, dim=1).values
    return top[:, 1] - top[:, 0]


def sample_points(feat, xy):
    return F.grid_sample(feat, (2 * xy - 1).unsqueeze(2), align_corners=False).squeeze(3)


def reference_forward(s, x, legacy=False):
    """UGSNet eval forward from DESIGN.md; ``x`` with H, W multiples of 16."""
    height, width = x.shape[2:]
    x = F.relu(bn(F.conv2d(x, s["backbone.conv1.weight"], padding=3), s, "backbone.bn1"))
    x = F.max_pool2d(x, 3, 2, 1)
    feats = []
    for i, stride in zip((1, 2, 3, 4), (1, 2, 2, 2)):
        x = stage(x, s, f"layer{i}", stride, multigrid=(i == 4))
        x = coord_attention(x, s, f"backbone.coord{i}", legacy)
        feats.append(x)
    size = feats[1].shape[2:]
    reduced = {}
    for name, f in zip(("dr2", "dr3", "dr4", "dr5"), feats):
        r = F.relu(bn(F.conv2d(f, s[f"decoder.{name}.conv1.weight"]), s,
                      f"decoder.{name}.bn1"))
        reduced[name] = F.interpolate(r, size=size, mode="bilinear", align_corners=True)
    order = ("dr2", "dr3", "dr4", "dr5") if legacy else ("dr5", "dr2", "dr3", "dr4")
    y = torch.cat([reduced[k] for k in order], 1)
    y = F.relu(bn(F.conv2d(y, s["decoder.last_conv.0.weight"], padding=1), s,
                  "decoder.last_conv.1"))
    out = F.conv2d(y, s["decoder.last_conv.4.weight"])
    # PointRend inference: x2 steps, re-predict the 1024 least certain pixel centres.
    while out.shape[2] < height or out.shape[3] < width:
        out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True)
        n, c, h, w = out.shape
        idx = torch.topk(margin(out).reshape(n, -1), min(1024, h * w), dim=1).indices
        xy = torch.stack([(idx % w + 0.5) / w, (idx // w + 0.5) / h], 2).to(out.dtype)
        point_in = torch.cat([sample_points(out, xy), sample_points(feats[1], xy)], 1)
        rend = F.conv1d(point_in, s["pointhead.mlp.weight"], s["pointhead.mlp.bias"])
        out = out.reshape(n, c, -1).scatter(2, idx.unsqueeze(1).expand(-1, c, -1), rend)
        out = out.reshape(n, c, h, w)
    return out


def randomized_state(model, seed):
    """Random weights and non-trivial BatchNorm statistics."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in model.state_dict().items():
        if not t.dtype.is_floating_point:
            state[name] = t.clone()
        elif name.endswith("running_var"):
            state[name] = torch.rand(t.shape, generator=gen) * 1.5 + 0.25
        elif name.endswith("running_mean"):
            state[name] = torch.randn(t.shape, generator=gen) * 0.2
        elif name.endswith(("bn1.weight", "bn2.weight", "bn3.weight")) or ".1.weight" in name:
            state[name] = 1 + 0.2 * torch.randn(t.shape, generator=gen)
        else:
            fan_in = max(1, t[0].numel()) if t.dim() > 1 else 1
            state[name] = torch.randn(t.shape, generator=gen) * (1.5 / fan_in) ** 0.5
    return state


@pytest.mark.parametrize("variant,size", [("full", (96, 160)), ("light", (160, 96)),
                                          ("light", (128, 256)), ("lean", (112, 144))])
def test_module_matches_the_functional_implementation(variant, size):
    model = build_model(variant).eval()
    state = randomized_state(model, seed=len(size) + size[0])
    model.load_state_dict(state)
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ours = model(x)
        reference = reference_forward(state, x)
        legacy = reference_forward(state, x, legacy=True)
    assert ours.shape == (2, 2, *size)
    assert (ours - reference).abs().max() < 1e-4 * max(1.0, reference.abs().max())
    assert torch.equal(ours.argmax(1), reference.argmax(1))
    # The check can fail: the old wiring gives other logits on the same weights.
    assert (legacy - reference).abs().max() > 1e-2


def legacy_weights(state):
    """Inverse of convert_layout_1_to_2, written independently here."""
    out = dict(state)
    for k, v in state.items():
        if k.endswith("conv_w.weight"):
            out[k] = v.permute(0, 1, 3, 2)
    w = state["decoder.last_conv.0.weight"]
    c = w.shape[1] // 4  # stored order dr5, dr2, dr3, dr4 -> legacy dr2, dr3, dr4, dr5
    out["decoder.last_conv.0.weight"] = torch.cat([w[:, c:2 * c], w[:, 2 * c:3 * c],
                                                   w[:, 3 * c:], w[:, :c]], 1)
    return out


def test_shipped_light_model_gives_the_maps_of_its_old_wiring():
    """The bundled model was trained with layout 1 and converted exactly: on real NAIP
    crops the converted model gives the old wiring's class map and probabilities."""
    model, card = load_model(DEFAULT_MODEL, "cpu")
    assert card["layout"] == 2
    state = {k: v.float() if v.dtype.is_floating_point else v
             for k, v in model.state_dict().items()}
    old = legacy_weights(state)
    crops = []
    for name in ("claremont_2020_0", "palm_springs_2020_3"):
        with rasterio.open(naip_path(name)) as src:
            crops.append(src.read((1, 2, 3)))
    x = torch.from_numpy(np.stack(crops)).float() / 255 * 2 - 1
    x = x[:, :, :, :192].contiguous()  # non-square
    with torch.inference_mode():
        new_prob = torch.softmax(model(x), 1)[:, 1]
        old_prob = torch.softmax(reference_forward(old, x, legacy=True), 1)[:, 1]
    assert torch.equal(new_prob > 0.5, old_prob > 0.5)
    assert (new_prob - old_prob).abs().max() < 1e-5
    assert 0.05 < float((new_prob > 0.5).float().mean()) < 0.95  # real maps, not blank
