"""Options shared by several commands."""
from __future__ import annotations

from ..core.config import DEVICES, ENGINES, PRECISIONS, PredictOptions


def values(text, default=("1",)):
    from ..core.vectors import parse_values
    return parse_values(text, default)


def add_output_arguments(parser, json_help="print a JSON summary on stdout"):
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress or messages on stderr, warnings only")


def add_device_argument(parser):
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="auto (default: CUDA, then MPS, then CPU), cpu, cuda, mps")


def add_extraction_arguments(parser):
    d = PredictOptions()
    parser.add_argument("--model", help="model file (.pt); default: the bundled light "
                        "model (on a CUDA GPU, models/ugsnet_full.pt when present)")
    add_device_argument(parser)
    parser.add_argument("--engine", default="auto", choices=ENGINES,
                        help="auto (default: ONNX Runtime on the CPU, PyTorch on a GPU), "
                        "onnxruntime, openvino, torch")
    parser.add_argument("--bands", default="", help="band numbers of R,G,B, e.g. 3,2,1")
    parser.add_argument("--tile-size", type=int, default=d.tile_size,
                        help="tile edge in px (default: the model card's)")
    parser.add_argument("--overlap", type=int, default=d.overlap,
                        help="tile overlap in px (default: tile size / 8)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size,
                        help=f"tiles per batch ({d.batch_size})")
    parser.add_argument("--threshold", type=float, default=d.threshold,
                        help=f"probability threshold for green ({d.threshold})")
    parser.add_argument("--precision", default=d.precision, choices=PRECISIONS,
                        help="fp32 (default); bf16/fp16 on the openvino engine or on a "
                        "CUDA GPU (torch), said in the log")


def extraction_options(args, **extra):
    from ..core.mapping.imagery import parse_band_list
    return PredictOptions(bands=parse_band_list(args.bands), tile_size=args.tile_size,
                          overlap=args.overlap, batch_size=args.batch_size,
                          threshold=args.threshold, precision=args.precision, **extra)
