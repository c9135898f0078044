"""Write the ONNX graph beside a model file and record it in its card (the bundled
models ship theirs, so mapping needs no PyTorch):

    .venv/bin/python scripts/export_onnx.py models/ugsnet_light.pt
"""
import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ugs_plugin.core.model.onnx_export import export_onnx, onnx_beside  # noqa: E402
from ugs_plugin.core.model.card import card_path
from ugs_plugin.core.model.files import load_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    args = parser.parse_args()
    model, card = load_model(args.model, "cpu")
    info = export_onnx(model, int(card.get("tile_size", 512)), onnx_beside(args.model))
    path = card_path(args.model)
    written = json.loads(path.read_text(encoding="utf-8"))
    written["onnx"] = info
    path.write_text(json.dumps(written, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    print(f"{onnx_beside(args.model)}: {info}")


if __name__ == "__main__":
    main()
