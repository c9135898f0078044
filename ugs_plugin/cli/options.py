"""Options shared by several commands, and a workflow's options (core/workflows/
spec.py) as arguments."""
from __future__ import annotations



def add_output_arguments(parser, json_help="print a JSON summary on stdout"):
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress or messages on stderr, warnings only")


def add_options(parser, options):
    """Declare a workflow's options (core/workflows/spec.py) on ``parser``."""
    types = {"int": int, "float": float}
    for option in options:
        if not option.cli:
            continue
        extra = {}
        if option.kind == "bool":
            extra["action"] = "store_false" if option.default else "store_true"
        elif option.kind == "choice":
            extra.update(choices=option.choices, default=option.default)
        elif option.kind in types:
            extra["type"] = types[option.kind]
        parser.add_argument(option.cli_flag, dest=option.dest,
                            help=option.describe().replace("%", "%%"), **extra)


def build_request(args, options, **given):
    """The use case's request from the parsed options and ``given`` (the files the
    command read itself)."""
    from ..core.workflows.spec import build
    return build(options, option_values(args, options), **given)


def option_values(args, options) -> dict:
    """{key: the request's value} of every option declared on the command line."""
    return {o.key: o.parse(getattr(args, o.dest), name=o.cli_flag)
            for o in options if o.cli}
