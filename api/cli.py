"""`cxlens` console script: one argparse tree assembled from the layers.

Each layer registers its own sub-commands (``nlp.cli.register``, ``cx.cli.register`` and this module's
service commands); a handler returns an exit code. Domain errors print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from nlp.errors import CxlensError

#: modules with a ``register(subparsers)`` function, in help order
COMMAND_MODULES = ("nlp.cli", "cx.cli", "api.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxlens", description="Text analysis of CX survey comments (RU/EN).")
    parser.add_argument("--version", action="version", version="cxlens 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:  # a layer not built yet must not break the others
            if e.name == mod_name:
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CxlensError as e:
        print(f"cxlens: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cxlens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
