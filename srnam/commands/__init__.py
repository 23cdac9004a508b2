"""The ``srnam`` command. Each subcommand lives in its own module of this package (a thin front end over library
code) and registers itself here; ``common`` holds what they share."""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import evaluate, hub, quickstart, upscale

SUBCOMMANDS = [quickstart, upscale, evaluate, hub]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srnam", description="SR-NAM: face super-resolution with several plausible answers.",
        epilog="example:\n  srnam quickstart --out quickstart_out", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"srnam {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
