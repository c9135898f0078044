"""Rewrite model files of layout 1 (this plugin up to 0.1.0) in layout 2 (the
authors' wiring of coordinate attention and of the decoder), exactly: the maps do
not change (tests/test_ugsnet_reference.py checks the bundled model).

Files of layout 1 are also converted on load, so this is only needed to update a file
in place (the bundled model was converted with it):

    .venv/bin/python scripts/convert_model_layout.py models/ugsnet_light.pt [OUT.pt]
"""
import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from ugs_plugin.core.model.files import load_model, save_model
from ugs_plugin.core.model.card import read_card  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("output", nargs="?", help="default: overwrite MODEL")
    args = ap.parse_args()
    card = read_card(args.model)
    if card["layout"] != 1:
        sys.exit(f"{args.model} is already layout {card['layout']}; nothing to do")
    model, card = load_model(args.model, "cpu")  # converts layout 1 on load
    save_model(model, card, args.output or args.model)  # records layout 2
    print(f"{args.output or args.model}: layout 1 -> 2")


if __name__ == "__main__":
    main()
