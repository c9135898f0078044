"""The int8 graph of a model for CPUs with int8 dot-product instructions (VNNI, AMX):
ONNX Runtime's static post-training quantization, in QDQ form (weights per output
channel, activations per tensor), calibrated on the shipped source sample brought to
the model's pixel size. ONNX Runtime and OpenVINO run its convolutions in int8: the
CPU default where measured faster at the same held-out F1 (config.CPU_DEFAULTS),
else on request (precision int8); benchmarks/RESULTS.md has the figures.

The bundled light model ships its int8 graph (``scripts/export_onnx.py --int8``
writes it and its card entry); any other model's is made here on first use, beside
the model or in the cache folder, like its fp32 graph.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import PLUGIN_DIR
from ..errors import UgsError
from ..mapping.imagery import to_model_input
from ..outputs import atomic_output
from .card import file_sha256

SOURCE_SAMPLE = PLUGIN_DIR / "resources" / "source_sample" / "images"
MOSAIC = 3   # source tiles per side of one calibration tile
METHOD = "minmax"
# Convolutions only: int8 residual adds and attention products cost 1 point of tree
# recall on the held-out cities for little speed (benchmarks/RESULTS.md).
OPS = ["Conv"]
# Convolution inputs only: a quantized output must be dequantized before its ReLU,
# and at the stem's full resolution OpenVINO spends an eighth of a tile's time on
# it; float outputs fuse into the next quantized input (1.3x on an AMX Xeon).
UNQUANTIZED_OUTPUTS = {"OpTypesToExcludeOutputQuantization": ["Conv"]}
# Stamped on every int8 graph made: one of an earlier recipe is made again.
RECIPE = 2   # 1: plugin 0.6.0-0.6.3, convolution outputs quantized too


class QuantizationUnavailable(UgsError):
    """The int8 graph cannot be made here (ONNX Runtime's quantization tools missing)."""


def calibration_tiles(card: dict, tile: int, folder=SOURCE_SAMPLE) -> list[np.ndarray]:
    """(1, C, tile, tile) float32 model inputs: the source sample's tiles resampled to
    the model's pixel size and laid MOSAIC x MOSAIC to a tile (mirrored to fill)."""
    import rasterio
    from rasterio.enums import Resampling
    target = float(card.get("pixel_size_m", 1.0))
    scaling = card.get("input_scaling", "minus_one_one")
    images = []
    for path in sorted(Path(folder).glob("*.tif")):
        with rasterio.open(path) as src:
            size = abs(src.transform.a) if src.crs else target
            factor = size / target
            shape = (3, max(1, round(src.height * factor)), max(1, round(src.width * factor)))
            images.append(src.read((1, 2, 3), out_shape=shape,
                                   resampling=Resampling.bilinear))
    if len(images) < MOSAIC * MOSAIC:
        raise QuantizationUnavailable(f"{folder} has {len(images)} calibration tiles; "
                                      f"{MOSAIC * MOSAIC} are needed")
    side = min(min(i.shape[1:]) for i in images)
    out = []
    for start in range(0, len(images) - MOSAIC * MOSAIC + 1, MOSAIC * MOSAIC):
        mosaic = np.zeros((3, MOSAIC * side, MOSAIC * side), np.float32)
        for k in range(MOSAIC * MOSAIC):
            r, c = divmod(k, MOSAIC)
            mosaic[:, r * side:(r + 1) * side, c * side:(c + 1) * side] = \
                images[start + k][:, :side, :side]
        pad = max(0, tile - mosaic.shape[1])
        mosaic = np.pad(mosaic, ((0, 0), (0, pad), (0, pad)), mode="symmetric")
        unit = mosaic[:, :tile, :tile] / 255.0
        out.append(to_model_input(unit, scaling)[None].astype(np.float32))
    return out


def quantize_graph(fp32_graph, target, card: dict, tile: int) -> dict:
    """Write the int8 QDQ graph of ``fp32_graph`` to ``target`` atomically; returns
    its card entry (file, sha256, tile_size, calibration)."""
    try:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                              QuantFormat, QuantType, quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as err:
        missing = err.name or "onnx"
        raise QuantizationUnavailable(
            f"making the int8 graph of this model needs ONNX Runtime's quantization "
            f"tools, which need the Python package '{missing}' (pip install "
            f"{missing}, or the installer's training level); or use precision "
            "fp32") from None
    tiles = calibration_tiles(card, tile)

    class Tiles(CalibrationDataReader):
        def __init__(self):
            self.left = iter(tiles)

        def get_next(self):
            x = next(self.left, None)
            return None if x is None else {"image": x}

    with atomic_output(target, ".onnx") as tmp:
        prepared = Path(f"{tmp}.pre.onnx")
        try:
            quant_pre_process(str(fp32_graph), str(prepared), skip_symbolic_shape=True)
            quantize_static(str(prepared), str(tmp), Tiles(),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, op_types_to_quantize=OPS,
                            calibrate_method=CalibrationMethod.MinMax,
                            extra_options=UNQUANTIZED_OUTPUTS)
        finally:
            prepared.unlink(missing_ok=True)
        digest = file_sha256(tmp)
    return {"file": Path(target).name, "sha256": digest, "tile_size": int(tile),
            "recipe": RECIPE,
            "calibration": f"{len(tiles)} tiles of {tile} px from the source sample "
                           f"({MOSAIC}x{MOSAIC} mosaics at the model's pixel size), "
                           f"{METHOD}, weights per channel, convolution inputs only (QDQ)"}
