"""The ``cxlens`` console script: one module per command group, each with ``register(subparsers)``.

A handler returns an exit code; domain errors print one line (with their stable code) and exit 2.
Library code never imports from here: commands call ``nlp`` / ``cx`` / ``api.services`` functions.
"""
from __future__ import annotations

import argparse
import sys

from nlp import __version__
from nlp.errors import CxlensError

from . import datasets, demo, evaluate, keys, models, predict, queue, report, serve, train

#: command groups in help order
COMMANDS = (train, predict, evaluate, models, datasets, queue, report, demo, serve, keys)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxlens", description="Text analysis of CX survey comments (RU/EN).")
    parser.add_argument("--version", action="version", version=f"cxlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nlp.progress import TerminalSink, reporting

    args = build_parser().parse_args(argv)
    try:
        with reporting(TerminalSink()):  # progress of long work on stderr (never stdout)
            return int(args.func(args) or 0)
    except CxlensError as e:
        print(f"cxlens: error: {e} [{e.code}]", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cxlens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
