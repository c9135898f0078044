"""Join the weight parts written by ``train_default_model.py --weights-fp16-parts``
(a GPU job returns files of limited size) into one model file with its card.

    .venv/bin/python scripts/join_weights.py GPU_OUT_DIR models/ugsnet_full.pt
"""
import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from ugs_plugin.core.model.ugsnet import build_model  # noqa: E402
from ugs_plugin.core.model.files import save_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="holds weights_part*.pt and the card (*.json)")
    ap.add_argument("output")
    args = ap.parse_args()
    folder = Path(args.folder)
    state = {}
    for part in sorted(folder.glob("weights_part*.pt")):
        state.update(torch.load(part, map_location="cpu", weights_only=True))
    cards = sorted(folder.glob("*.json"))
    if not state or len(cards) != 1:
        sys.exit(f"{folder} needs weights_part*.pt and exactly one card (.json)")
    card = json.loads(cards[0].read_text(encoding="utf-8"))
    model = build_model(card["variant"])
    model.load_state_dict(state)  # fp16 values into fp32 parameters
    save_model(model, card, args.output)
    print(f"{args.output}: {len(state)} tensors from "
          f"{len(list(folder.glob('weights_part*.pt')))} parts")


if __name__ == "__main__":
    main()
