"""Write the ONNX graph beside a model file and record it in its card (the bundled
models ship theirs, so mapping needs no PyTorch); with --int8 also its quantized
graph (``<name>.int8.onnx``, the CPU default on some CPUs: config.CPU_DEFAULTS):

    .venv/bin/python scripts/export_onnx.py models/ugsnet_light.pt --int8
"""
import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ugs_plugin.core.model.onnx_export import export_onnx, GRAPH_FORM, onnx_beside  # noqa: E402
from ugs_plugin.core.model.card import card_path, file_sha256  # noqa: E402
from ugs_plugin.core.model.files import load_model  # noqa: E402
from ugs_plugin.core.model.quantize import quantize_graph  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--int8", action="store_true", help="also the int8 graph")
    parser.add_argument("--force", action="store_true",
                        help="export again even when the card's graph is intact")
    args = parser.parse_args()
    model, card = load_model(args.model, "cpu")
    tile = int(card.get("tile_size", 512))
    path = card_path(args.model)
    written = json.loads(path.read_text(encoding="utf-8"))
    entry = written.get("onnx") or {}
    graph = onnx_beside(args.model)
    if args.force or not (graph.exists() and entry.get("tile_size") == tile
                          and entry.get("form") == GRAPH_FORM
                          and entry.get("sha256") == file_sha256(graph)):
        written["onnx"] = info = export_onnx(model, tile, graph)
        print(f"{graph}: {info}")
    if args.int8:
        int8 = graph.with_suffix(".int8.onnx")
        written["onnx_int8"] = quantize_graph(graph, int8, card, tile)
        print(f"{int8}: {written['onnx_int8']}")
    path.write_text(json.dumps(written, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")


if __name__ == "__main__":
    main()
