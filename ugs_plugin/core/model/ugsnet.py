"""UGSNet (Shi et al., ESSD 2023) and the patch discriminator used to adapt it.

Module names follow the authors' published model definition so that a state_dict
saved by their code loads unchanged (see ``../shared/reference``):

    backbone  ResNet encoder, stride-1 7x7 stem, multi-grid layer4, one
              enhanced coordinate-attention block (``coordK``) after each stage
    decoder   four 1x1 reducers (``dr2``..``dr5``) to a common width, fused at the
              layer2 resolution by ``last_conv`` into coarse 2-class logits
    pointhead PointRend head: one 1x1 Conv1d over [coarse logits, layer2 features]

The "light" variant is the same design on a narrower, shallower encoder; it is the
CPU default.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import VARIANTS

NUM_CLASSES = 2

# Modules the authors' decoder defines but never calls in forward(). Their keys are
# accepted on load and dropped (model_file.py).
UNUSED_DECODER_PREFIXES = (
    "decoder.upconv1.", "decoder.conv12d.", "decoder.bn12d.",
    "decoder.upconv2.", "decoder.conv22d.", "decoder.bn22d.",
    "decoder.conv11d.", "decoder.OSMBlock.", "decoder.upconv3.",
    "decoder.conv31d.", "decoder.bn31d.", "decoder.conv33d.",
)


@dataclass(frozen=True)
class VariantConfig:
    stem_channels: int
    planes: tuple          # bottleneck width per stage; output = planes * 4
    blocks: tuple          # bottlenecks per stage
    decoder_channels: int  # width of each reduced stage
    fuse_channels: int     # width of last_conv
    layer4_dilations: tuple = (1, 2, 4)


# The layers of each variant (config.VARIANTS names them).
ARCHITECTURES = {
    "full": VariantConfig(64, (64, 128, 256, 512), (3, 4, 6, 3), 96, 256),
    "light": VariantConfig(16, (16, 32, 64, 128), (1, 2, 2, 1), 32, 64),
    # Light with three quarters of its widths, one block per stage and half the
    # fusion: 1.45x its int8 forward on an AVX2 CPU. Distilled from the full model
    # it finds fewer small trees than light, which stays the default (RESULTS.md).
    "lean": VariantConfig(16, (12, 24, 48, 96), (1, 1, 1, 1), 24, 32),
}
assert set(ARCHITECTURES) == set(VARIANTS)

# Weight layout of a model file (config.LAYOUT_VERSION). 1: this plugin up to 0.1.0
# wired the W gate of coordinate attention and the decoder's concatenation
# differently from the authors' code; 2: the authors' wiring. Files of layout 1 are
# converted on load.


def convert_layout_1_to_2(state: dict) -> dict:
    """Exact conversion of layout-1 weights: the maps do not change.

    * ``conv_w`` ran on (N,mid,W,1), so its kernel's middle *column* slid along W;
      now it runs on (N,mid,1,W) and the middle *row* does: transpose the kernel's
      spatial axes (with padding 1 on the length-1 axis, only that line counts).
    * ``last_conv`` saw [dr2, dr3, dr4, dr5]; now it sees [dr5, dr2, dr3, dr4]:
      permute its input channels to match.
    """
    out = dict(state)
    for key, value in state.items():
        if key.endswith(".conv_w.weight"):
            out[key] = value.transpose(2, 3).contiguous()
    key = "decoder.last_conv.0.weight"
    if key in state:
        weight = state[key]
        dr2, dr3, dr4, dr5 = torch.chunk(weight, 4, dim=1)
        out[key] = torch.cat([dr5, dr2, dr3, dr4], dim=1).contiguous()
    return out


# Input must be a multiple of this (stem max-pool + three stride-2 stages).
OUTPUT_STRIDE = 16


class HSwish(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.0) / 6.0


class CoordAttention(nn.Module):
    """Enhanced coordinate attention: gates along H, along W and over channels.

    The H and W descriptors share ``conv1``/``bn1`` (as in coordinate attention);
    the globally pooled descriptor has its own ``conv2``/``bn2``.
    """

    def __init__(self, channels: int, reduction: int = 16, min_mid: int = 8):
        super().__init__()
        mid = max(min_mid, channels // reduction)
        self.conv1 = nn.Conv2d(channels, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(channels, mid, 1)
        self.bn2 = nn.BatchNorm2d(mid)
        self.act = HSwish()
        self.conv_h = nn.Conv2d(mid, channels, 3, padding=1)
        self.conv_w = nn.Conv2d(mid, channels, 3, padding=1)
        self.conv_c = nn.Conv2d(mid, channels, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        along_h = x.mean(dim=3, keepdim=True)                  # N,C,H,1
        along_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # N,C,W,1
        y = self.act(self.bn1(self.conv1(torch.cat([along_h, along_w], dim=2))))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        # y_w goes back to (N,mid,1,W) *before* conv_w, as in the authors' code: the
        # kernel's middle row slides along W (a checkpoint's conv_w weights rely on it).
        gate_h = torch.sigmoid(self.conv_h(y_h))                   # N,C,H,1
        gate_w = torch.sigmoid(self.conv_w(y_w.transpose(2, 3)))   # N,C,1,W
        pooled = x.mean(dim=(2, 3), keepdim=True)
        gate_c = torch.sigmoid(self.conv_c(self.act(self.bn2(self.conv2(pooled)))))
        return x * gate_c * gate_w * gate_h


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _stage(inplanes, planes, blocks, stride, dilations):
    downsample = None
    if stride != 1 or inplanes != planes * 4:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * 4),
        )
    layers = [Bottleneck(inplanes, planes, stride, dilations[0], downsample)]
    for i in range(1, blocks):
        layers.append(Bottleneck(planes * 4, planes, 1, dilations[i]))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """ResNet with a stride-1 stem; layer1..layer4 at 1/2, 1/4, 1/8, 1/16."""

    def __init__(self, cfg: VariantConfig, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, cfg.stem_channels, 7, stride=1, padding=3,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = cfg.stem_channels
        strides = (1, 2, 2, 2)
        for i, (planes, blocks) in enumerate(zip(cfg.planes, cfg.blocks), start=1):
            if i == 4:
                dilations = [cfg.layer4_dilations[j % len(cfg.layer4_dilations)]
                             for j in range(blocks)]
            else:
                dilations = [1] * blocks
            setattr(self, f"layer{i}", _stage(inplanes, planes, blocks, strides[i - 1],
                                              dilations))
            setattr(self, f"coord{i}", CoordAttention(planes * 4))
            inplanes = planes * 4
        self.out_channels = tuple(p * 4 for p in cfg.planes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.coord1(self.layer1(x))
        c2 = self.coord2(self.layer2(c1))
        c3 = self.coord3(self.layer3(c2))
        c4 = self.coord4(self.layer4(c3))
        return c1, c2, c3, c4


class Reducer(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn1(self.conv1(x)))


class Decoder(nn.Module):
    """Reduce every stage, resize to the layer2 grid (1/4), fuse to coarse logits."""

    def __init__(self, stage_channels, width, fuse_width, num_classes=NUM_CLASSES):
        super().__init__()
        for name, ch in zip(("dr2", "dr3", "dr4", "dr5"), stage_channels):
            setattr(self, name, Reducer(ch, width))
        self.last_conv = nn.Sequential(
            nn.Conv2d(4 * width, fuse_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(fuse_width),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(fuse_width, num_classes, 1, bias=False),
        )

    def forward(self, c1, c2, c3, c4):
        size = c2.shape[2:]
        # The authors' order: layer4 first, then layer1..layer3 (last_conv's input).
        reduced = [self.dr5(c4), self.dr2(c1), self.dr3(c2), self.dr4(c3)]
        reduced = [r if r.shape[2:] == size else
                   F.interpolate(r, size=size, mode="bilinear", align_corners=True)
                   for r in reduced]
        return self.last_conv(torch.cat(reduced, dim=1))


def point_sample(features, points):
    """Bilinear samples of ``features`` (N,C,H,W) at ``points`` (N,P,2) given as
    (x, y) in [0, 1] of the map extent; returns (N,C,P)."""
    grid = (2.0 * points - 1.0).unsqueeze(2)
    return F.grid_sample(features, grid, mode="bilinear", align_corners=False).squeeze(3)


def uncertainty(logits):
    """Negative margin between the two best classes: highest where least sure."""
    if logits.shape[1] == 2:
        # The same value as the top-2 form; a full-map TopK costs a tenth of a tile
        return -(logits[:, 0] - logits[:, 1]).abs()
    top2 = torch.topk(logits, 2, dim=1).values
    return top2[:, 1] - top2[:, 0]


class PointHead(nn.Module):
    """PointRend: re-predicts uncertain points from coarse logits + fine features."""

    def __init__(self, fine_channels, num_classes=NUM_CLASSES, train_points_per_px=4,
                 oversample=3, importance=0.75, inference_points=1024):
        super().__init__()
        self.mlp = nn.Conv1d(num_classes + fine_channels, num_classes, 1)
        self.train_points_per_px = train_points_per_px
        self.oversample = oversample
        self.importance = importance
        self.inference_points = inference_points

    def predict_points(self, coarse, fine, points):
        feats = torch.cat([point_sample(coarse, points), point_sample(fine, points)], 1)
        return self.mlp(feats)

    def training_points(self, coarse, width):
        n = coarse.shape[0]
        count = self.train_points_per_px * width
        candidates = torch.rand(n, count * self.oversample, 2, device=coarse.device)
        scores = uncertainty(point_sample(coarse, candidates).unsqueeze(3)).squeeze(2)
        n_uncertain = int(self.importance * count)
        idx = torch.topk(scores, n_uncertain, dim=1).indices
        chosen = torch.gather(candidates, 1, idx.unsqueeze(2).expand(-1, -1, 2))
        random = torch.rand(n, count - n_uncertain, 2, device=coarse.device)
        return torch.cat([chosen, random], dim=1)

    def refine(self, coarse, fine, size, linear_fine_term=False):
        """Upsample x2 until ``size``, re-predicting the least certain pixels.
        ``linear_fine_term`` (the ONNX graphs' form): the MLP is one linear layer, so
        its fine-feature term is sampled from one 2-channel map of it
        (``_fine_term``) rather than from all C feature channels; the same logits
        bar rounding, at a tenth of a CPU tile's time less."""
        fine_term = self._fine_term(fine) if linear_fine_term else None
        out = coarse
        while out.shape[2] < size[0] or out.shape[3] < size[1]:
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True)
            n, c, h, w = out.shape
            k = min(self.inference_points, h * w)
            idx = torch.topk(uncertainty(out).view(n, -1), k, dim=1).indices
            points = torch.stack([(idx % w).to(out.dtype) + 0.5,
                                  torch.div(idx, w, rounding_mode="floor").to(out.dtype)
                                  + 0.5], dim=2)
            points = points / torch.tensor([w, h], dtype=out.dtype, device=out.device)
            if fine_term is None:
                rend = self.predict_points(out, fine, points)
            else:
                rend = self._mlp_from_terms(point_sample(out, points), fine_term, points)
            out = out.reshape(n, c, h * w).scatter(
                2, idx.unsqueeze(1).expand(-1, c, -1), rend.to(out.dtype)).view(n, c, h, w)
        return out

    def _fine_term(self, fine):
        """The MLP's fine-feature term at every pixel of ``fine`` (N,2,h,w): bilinear
        sampling commutes with the MLP's channel mixing."""
        weight = self.mlp.weight[:, self.mlp.out_channels:]   # after the class logits
        return F.conv2d(fine, weight.unsqueeze(3))

    def _mlp_from_terms(self, coarse_at, fine_term, points):
        """``predict_points`` from the coarse logits at the points and the fine term."""
        weight = self.mlp.weight[:, :self.mlp.out_channels]
        return F.conv1d(coarse_at, weight, self.mlp.bias) + point_sample(fine_term, points)


class UGSNet(nn.Module):
    """Generator. Eval: logits (N,2,H,W). Train: dict with ``coarse`` logits at 1/4,
    point predictions ``rend`` (N,2,P) and their ``points`` (N,P,2) in [0, 1]."""

    def __init__(self, variant: str = "full", in_channels: int = 3):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown UGSNet variant {variant!r}; "
                             f"choose one of {sorted(VARIANTS)}")
        cfg = ARCHITECTURES[variant]
        self.variant = variant
        self.in_channels = in_channels
        self.backbone = Encoder(cfg, in_channels)
        self.decoder = Decoder(self.backbone.out_channels, cfg.decoder_channels,
                               cfg.fuse_channels)
        self.pointhead = PointHead(self.backbone.out_channels[1])

    def _encode(self, x):
        """(padded input, coarse logits, layer-2 features): x padded by reflection to
        a multiple of OUTPUT_STRIDE."""
        h, w = x.shape[2:]
        pad_h, pad_w = (-h) % OUTPUT_STRIDE, (-w) % OUTPUT_STRIDE
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        c1, c2, c3, c4 = self.backbone(x)
        return x, self.decoder(c1, c2, c3, c4), c2

    def forward(self, x):
        h, w = x.shape[2:]
        x, coarse, c2 = self._encode(x)
        if self.training:
            points = self.pointhead.training_points(coarse, x.shape[3])
            rend = self.pointhead.predict_points(coarse, c2, points)
            return {"coarse": coarse, "rend": rend, "points": points}
        out = self.pointhead.refine(coarse, c2, x.shape[2:])
        return out[:, :, :h, :w]

    def logits_for_export(self, x):
        """Eval only: ``forward``'s logits (N,2,H,W) as the ONNX graphs compute them
        (PointHead.refine's linear fine term)."""
        h, w = x.shape[2:]
        x, coarse, c2 = self._encode(x)
        out = self.pointhead.refine(coarse, c2, x.shape[2:], linear_fine_term=True)
        return out[:, :, :h, :w]


class PatchDiscriminator(nn.Module):
    """Output-space discriminator (AdaptSegNet): five 4x4 stride-2 convolutions."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(num_classes, width, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width * 2, 4, stride=2, padding=1)
        self.conv3 = nn.Conv2d(width * 2, width * 4, 4, stride=2, padding=1)
        self.conv4 = nn.Conv2d(width * 4, width * 8, 4, stride=2, padding=1)
        self.classifier = nn.Conv2d(width * 8, 1, 4, stride=2, padding=1)
        self.leaky_relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = self.leaky_relu(conv(x))
        return self.classifier(x)


def build_model(variant: str = "light", in_channels: int = 3) -> nn.Module:
    return UGSNet(variant, in_channels)
