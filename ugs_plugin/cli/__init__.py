"""Headless command line: ``python -m ugs_plugin <command>``, the same engine as the
Processing algorithms; one module per command (its options and its run), shared
options in options.py, vector files in vector_io.py. Exit code 0 on success, 1 with
a one-line reason on error."""
from __future__ import annotations

import argparse
import sys

from .. import plugin_version
from . import (
    adapt,
    assess,
    change,
    diagnostics,
    extract,
    finetune,
    frames,
    indicators,
    mask,
    sample,
    stats,
    suggest,
    train,
)
from .terminal import TerminalFeedback

# In the order --help lists them.
COMMANDS = (extract, frames, mask, stats, indicators, change, assess, diagnostics,
            sample, train, adapt, finetune, suggest)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m ugs_plugin",
        description="Urban green space mapping with UGSNet, without QGIS.")
    parser.add_argument("--version", action="version", version=plugin_version())
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None):
    """Parse, run one command; every engine error ends here as one line."""
    from ..core.errors import Cancelled, UgsError
    args = build_parser().parse_args(argv)
    feedback = TerminalFeedback.make(quiet=args.quiet)
    try:
        return args.func(args, feedback)
    except ImportError as err:
        message, code = f"{err}; install the dependencies (make demo sets up .venv)", 1
    except (Cancelled, UgsError) as err:
        message, code = str(err), 1
    except KeyboardInterrupt:
        message, code = "interrupted; no output was written", 130
    finally:
        feedback.close()  # ends a progress bar before the error line
    print(f"error: {message}", file=sys.stderr)
    return code
