"""The training CLIs' shared parts (train/train_*.py are thin front ends over them): the options every trainer
takes, a named config with command-line overrides, and the exit codes."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..errors import SRNAMError
from .run import NonFiniteLossError


def exit_code(train_call) -> int:
    """Run a trainer for a CLI: 0 when it finishes or stops as asked, 3 (with the message) on a NaN/inf loss,
    2 (with the message) for settings or files it cannot train with (a bad config value, a missing or broken
    model folder, VGG weights that cannot be had)."""
    try:
        train_call()
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (SRNAMError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def add_run_arguments(parser: argparse.ArgumentParser, configs: dict) -> None:
    """The options both trainers share. Every config field can also be overridden by its own flag."""
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, samples, logs, export)")
    parser.add_argument("--config", choices=configs, default=next(iter(configs)), help="named config (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    parser.add_argument("--max-steps", type=int, help="stop (with a checkpoint) after this many steps in this session")
    parser.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this many minutes")
    example = next(iter(configs.values()))
    for f in dataclasses.fields(example):
        kind = "comma-separated list" if isinstance(getattr(example, f.name), tuple) else type(getattr(example, f.name)).__name__
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, metavar=kind.split()[-1].upper(),
                            help=f"override the config's {f.name} ({kind})")


def trainer_main(description: str, configs: dict, train, inputs, argv=None, **extra) -> int:
    """A training CLI: ``inputs(parser)`` adds the trainer's positional folders and returns their dests, in the
    order ``train`` takes them; ``extra`` maps further ``train`` keywords to their dests. Exit code of ``exit_code``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    folders = inputs(parser)
    add_run_arguments(parser, configs)
    args = parser.parse_args(argv)
    config = config_from_args(configs, args)
    return exit_code(lambda: train(*(getattr(args, name) for name in folders), args.out, config, resume=args.resume,
                                   max_steps=args.max_steps, max_minutes=args.max_minutes,
                                   **{key: getattr(args, name) for key, name in extra.items()}))


def config_from_args(configs: dict, args: argparse.Namespace):
    """The named config with the fields given on the command line replaced."""
    config = configs[args.config]
    overrides = {}
    for f in dataclasses.fields(config):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        default = getattr(config, f.name)
        if isinstance(default, tuple):
            kind = type(default[0]) if default else int  # an empty default: a list of widths
            overrides[f.name] = tuple(kind(v) for v in value.split(","))
        elif isinstance(default, bool):  # bool("false") would be True
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"--{f.name.replace('_', '-')} takes true or false, got {value!r}")
            overrides[f.name] = value.lower() in ("true", "1", "yes")
        else:
            overrides[f.name] = type(default)(value)
    return dataclasses.replace(config, **overrides)
