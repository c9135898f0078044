"""``python -m ugs_plugin stats``: green space per zone (CSV or JSON on stdout)."""
from __future__ import annotations

import json
import sys

from ..core.workflows.statistics import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import read_layer


def add_parser(sub):
    st = sub.add_parser("stats", help="green space per zone (CSV or JSON on stdout)")
    st.add_argument("map")
    st.add_argument("zones")
    add_options(st, OPTIONS)
    add_output_arguments(st)
    st.set_defaults(func=run)


def run(args, feedback):
    import csv as csv_module

    from ..core.workflows import statistics
    result = statistics.run(build_request(args, OPTIONS, map=args.map,
                                          zones=read_layer(args.zones)), feedback)
    if args.json:
        print(json.dumps(result.rows))
    else:
        out = csv_module.DictWriter(sys.stdout, fieldnames=list(result.rows[0]))
        out.writeheader()
        out.writerows(result.rows)
    return 0
