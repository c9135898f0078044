"""``python -m ugs_plugin diagnostics``: print a report for bug reports (versions,
engine, models, dependency folders)."""
from __future__ import annotations

from .options import add_output_arguments


def add_parser(sub):
    dg = sub.add_parser("diagnostics", help="print a report for bug reports (versions, "
                        "engine, models, dependency folders)")
    add_output_arguments(dg)
    dg.set_defaults(func=run)


def run(args, feedback):
    from ..diagnostics import report
    print(report(), end="")
    return 0
