"""The ``spinemets`` command line.

Each verb lives next to the stage it drives: a module listed in ``VERB_MODULES`` exposes
``register(subparsers)``, which adds one or more sub-commands and sets ``func`` on them. ``func``
receives the parsed ``argparse.Namespace`` and returns an exit code.

Exit codes: 0 success; 1 internal error; 2 bad input (one line, no traceback); 3 a missing
optional dependency or model weights.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from . import DISCLAIMER, __version__
from .errors import InputError, MissingDependencyError

#: Modules that register verbs, in the order they appear in ``--help``.
VERB_MODULES = [
    "spinemets.io.cli",          # info
    "spinemets.phantom.cli",     # phantom
    "spinemets.segment.cli",     # segment, evaluate
    "spinemets.muscles.cli",     # muscles
    "spinemets.qct.cli",         # bone
    "spinemets.mechanics.cli",   # loads, risk
    "spinemets.pipeline_cli",    # run, demo, batch
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spinemets",
        description="Per-vertebra fracture-risk assessment from CT of metastatic spines. " + DISCLAIMER,
    )
    parser.add_argument("--version", action="version", version=f"spinemets {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for mod_name in VERB_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == mod_name or mod_name.startswith(exc.name + ".")):
                continue  # stage not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"spinemets: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except MissingDependencyError as exc:
        print(f"spinemets: missing dependency: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("spinemets: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
