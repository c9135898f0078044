"""A model's ONNX graph: where it lies beside its model file, and the export (with
PyTorch, which needs the ``onnx`` package). Below both model/files.py, which writes
the graph with every model it saves, and model/engines.py, which exports it on first
use."""
from __future__ import annotations

import importlib
from pathlib import Path

from ..config import ONNX_OPSET
from .card import file_sha256

# How the graph is traced; a graph of an older form maps the same classes, more slowly,
# and is exported again where PyTorch can. 2 (0.6.9): the point head's fine term as a
# map and the two-class margin without a sort (UGSNet.logits_for_export).
GRAPH_FORM = 2


def importable(module: str) -> bool:
    """Imports without error (a package can be found yet broken or hidden)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def onnx_missing_message(model_name: str) -> str:
    return (f"{model_name} was written without its ONNX graph: PyTorch's exporter "
            "needs the Python package 'onnx', which is not installed (pip install "
            "onnx==1.23.2, or the installer's training level). Until it is, mapping "
            "with this model runs on PyTorch; then the graph is exported on first use.")


def onnx_beside(model_path) -> Path:
    return Path(model_path).with_suffix(".onnx")


def export_onnx(model, tile: int, path, opset: int = ONNX_OPSET) -> dict:
    """Write the model's ONNX graph (dynamic batch, ``tile`` x ``tile`` input, the
    logits of UGSNet.logits_for_export) to ``path`` atomically; returns the card's
    "onnx" entry (file, sha256, opset, tile_size, form)."""
    import warnings

    import torch

    from ..outputs import atomic_output
    cpu_model = model.to("cpu").eval() if next(model.parameters()).device.type != "cpu" \
        else model.eval()
    example = torch.zeros(1, getattr(cpu_model, "in_channels", 3), tile, tile)
    with atomic_output(path, ".onnx") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on the fixed-size point head
        torch.onnx.export(_export_module(cpu_model), example, tmp, opset_version=opset,
                          dynamo=False, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        digest = file_sha256(tmp)
    return {"file": Path(path).name, "sha256": digest, "opset": opset,
            "tile_size": int(tile), "form": GRAPH_FORM}


def _export_module(model):
    """The module traced into the graph: ``model.logits_for_export`` as its forward."""
    import torch

    class ForExport(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model.logits_for_export(x)

    return ForExport().eval()
