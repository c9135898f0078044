"""``python -m ugs_plugin suggest``: places to mark next for fine-tuning."""
from __future__ import annotations

import json

from ..core.workflows.suggest import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import write_suggestions


def add_parser(sub):
    sg = sub.add_parser("suggest", help="places to mark next for fine-tuning",
                        description="Map IMAGE with the current model (and the previous "
                        "round's, with --previous-model) and write to OUTPUT (.gpkg) "
                        "squares where the map is least sure or the two models "
                        "disagree, spread over the raster's kinds of surface, and "
                        "--checks check squares at random (field check 1). Give "
                        "each a class (1 green, 0 other), or mark them in QGIS with one "
                        "click, then run finetune with all marks so far: the check "
                        "squares are held out to decide whether its model is written.")
    sg.add_argument("image")
    sg.add_argument("output", help="GeoPackage to write")
    add_options(sg, OPTIONS)
    add_output_arguments(sg)
    sg.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import suggest
    result = suggest.run(build_request(args, OPTIONS, image=args.image), feedback)
    write_suggestions(args.output, result)
    rows = [{"rank": s.rank, "bounds": s.bounds, "uncertainty": round(s.uncertainty, 4),
             "disagreement": s.disagreement, "check": s.check}
            for s in result.suggestions]
    checks = sum(s.check for s in result.suggestions)
    print(json.dumps({"output": args.output, "suggestions": rows}) if args.json else
          f"{args.output}: {len(rows) - checks} places to mark, the least sure first, "
          f"and {checks} check squares")
    return 0
