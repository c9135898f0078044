"""``python -m ugs_plugin stats``: green space per zone (CSV or JSON on stdout)."""
from __future__ import annotations

import json
import sys

from .options import add_output_arguments
from .vector_io import read_layer


def add_parser(sub):
    st = sub.add_parser("stats", help="green space per zone (CSV or JSON on stdout)")
    st.add_argument("map")
    st.add_argument("zones")
    st.add_argument("--id-field")
    st.add_argument("--population-field")
    add_output_arguments(st)
    st.set_defaults(func=run)


def run(args, feedback):
    import csv as csv_module

    from ..core.workflows import statistics
    result = statistics.run(statistics.StatisticsRequest(
        map=args.map, zones=read_layer(args.zones), id_field=args.id_field,
        population_field=args.population_field), feedback)
    if args.json:
        print(json.dumps(result.rows))
    else:
        out = csv_module.DictWriter(sys.stdout, fieldnames=list(result.rows[0]))
        out.writeheader()
        out.writerows(result.rows)
    return 0
