"""Settings of the engine's workflows, with their defaults: the one place they live.
The fronts read them for their own defaults (parameter dialogs, --help), so this module
imports nothing heavy (no torch, no rasterio)."""
from __future__ import annotations

from dataclasses import dataclass

# Class codes of every class raster the plugin writes and reads.
GREEN, OTHER, NODATA = 1, 0, 255


# Tiles overlap by tile size / 16: as accurate as / 8 on the held-out sets (F1 within
# 0.002) with 13 % fewer tiles on average (benchmarks/RESULTS.md).
OVERLAP_DIVISOR = 16


@dataclass
class PredictOptions:
    bands: tuple = ()            # 1-based band mapping in model order; () = automatic
    tile_size: int | None = None  # default: the model card's tile size
    overlap: int | None = None    # default: tile_size // OVERLAP_DIVISOR (32 px)
    batch_size: int = 4
    threshold: float = 0.5
    allow_no_crs: bool = False
    band_width: int = 8192       # memory bound: columns processed at once
    overviews: bool = True
    precision: str = "auto"      # auto: CPU_DEFAULTS on the CPU, fp32 on a GPU


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 8
    crop: int = 256                   # training tile edge, multiple of 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    point_loss_weight: float = 1.0
    scale_range: tuple = (0.8, 1.25)  # resize factor around tiles at ~1 m
    colour_jitter: bool = True
    hard_negative_weight: float = 1.0  # >1: dark non-green pixels, or Sample.kinds
    hard_examples: bool = False       # water, shadow, dry-vegetation and sand looks
    validate_every: int = 0           # 0 = min(250, steps / 4)
    val_scale: float = 1.0            # resampling of validation tiles to ~1 m
    checkpoint_every: int = 0         # 0 = min(250, steps / 4); < 0 = only at the end
    seed: int = 0
    precision: str = "fp32"           # "bf16": autocast on CUDA (ignored elsewhere)
    distill_weight: float = 0.0       # share of the loss given to Sample.teacher


@dataclass
class AdaptConfig:
    iterations: int = 150          # quick: a minute or two on a laptop CPU (light)
    batch_size: int = 4
    tile: int = 128
    lr_generator: float = 2.5e-4
    lr_discriminator: float = 1e-4
    lambda_adv: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    seed: int = 0
    source_scale: float = 1.0      # source pixel size / target pixel size
    match_colours: bool = True     # recolour source tiles part-way to the target's
    reference_weight: float = 1.0  # supervised loss on target reference polygons


@dataclass
class FinetuneConfig:
    iterations: int = 300          # about 2 minutes with the light model on a laptop CPU
    batch_size: int = 8            # crops per step from the raster
    source_per_batch: int = 4      # crops per step from the labelled source sample
    source_weight: float = 1.0     # weight of the source loss (0 = no source)
    crop: int = 96                 # px, multiple of 16
    lr: float = 2e-4
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    holdout: float = 0.25          # share held out: spatial blocks, or whole frames
    seed: int = 0
    windows: int = 256             # crops read from the raster before training
    match_colours: bool = False    # recolour source crops to the raster's colours
    lambda_adv: float = 0.0        # adversarial term (adapt.py); 0 = off
    context: int = 192             # px mapped around held-out polygons when scoring
    freeze_batchnorm: bool = False  # keep BatchNorm statistics of the base model
    # The guarded recipe (benchmarks/bench_finetune.py; TODAY_RECIPE turns it off):
    distill: float = 1.0           # keep the base's map on unmarked pixels of the crops
    l2sp: float = 0.01             # pull towards the base weights (L2-SP)
    head_first: float = 0.2        # share of steps training decoder and heads only
    interpolate: bool = True       # pick a mix of base and fine-tuned weights (WiSE-FT)
    seconds: float = 0.0           # time budget of the training steps; 0: iterations
    accept: str = "if better"      # "if better": keep the base unless the check passes
    min_gain: float = 0.05         # held-out F1 rise a mix must show to be written
    max_moved: float = 0.20        # share of unmarked pixels the map may change
    max_moved_sure: float = 0.005  # ... change where the base was sure (p < .1, > .9)
    max_source_drop: float = 0.0075  # F1 fall allowed on the labelled source sample (1: off)
    guard_windows: int = 12        # windows away from the marks that measure it
    raster_batchnorm: bool = False  # AdaBN on each candidate: measured, not kept (RESULTS)


ACCEPT = ("if better", "always")
# Fine-tuning as it was before the guarded recipe: for the benchmark's comparison.
TODAY_RECIPE = dict(distill=0.0, l2sp=0.0, head_first=0.0, interpolate=False,
                    accept="always")


DEVICES = ("auto", "cpu", "cuda", "mps")   # "auto": CUDA, then MPS, then CPU
VARIANTS = ("light", "full", "lean")
LAYOUT_VERSION = 2   # weight layout of core/ugsnet.py (2: the authors' wiring)
ENGINES = ("auto", "onnxruntime", "openvino", "torch")
# "auto": what was measured best for this CPU's feature set (CPU_DEFAULTS), else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
# The CPU mapping default per instruction-set family, each chosen by held-out F1
# within 0.005 of fp32 and measured faster on such a CPU (benchmarks/RESULTS.md,
# "Mapping speed by CPU"). A family not listed maps with ONNX Runtime fp32.
CPU_DEFAULTS = {
    "avx512_bf16": ("openvino", "int8"),  # measured on an AMD EPYC (Zen 4), 2026-12-02
    "amx": ("openvino", "int8"),          # measured on an AMX Xeon, 2026-12-02
    "avx2": ("openvino", "int8"),         # measured on an AMD EPYC (AVX2 only), 2026-12-03
}
ONNX_OPSET = 17
