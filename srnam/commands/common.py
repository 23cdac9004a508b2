"""What the ``srnam`` commands share: exit codes, argument types, the common options and the default model."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import SRNAMError, check_int, check_rate
from ..faces.lr_sources import OLD_NAMES
from ..search import (DEFAULT_LEARNING_RATE, DEFAULT_NOISE_LEARNING_RATE, LATENT_CONSTRAINTS, LATENT_SPACES,
                      MAX_CANDIDATES, MAX_LEARNING_RATE, MAX_STEPS, SearchSettings, make_latent_space,
                      search_learning_rate)
from ..pipeline import DEFAULT_CHECKPOINT, SRNAMPipeline

# Exit codes of every command: 0 done, 1 the operation (or some inputs) failed, 2 the arguments cannot work
# (bad option, nothing matched, model missing or not loadable).
OK, FAILED, USAGE = 0, 1, 2

MODEL_HELP = "pipeline folder or Hub repo id (default: the shipped checkpoints/default)"


class UsageError(SRNAMError):
    """The command line cannot run as given (reported with exit status 2)."""


def report_error(command: str, message) -> None:
    """The one line a command prints when it cannot do its work: ``srnam COMMAND: error: …``, on stderr (as
    argparse's own errors), so that stdout holds only results."""
    print(f"srnam {command}: error: {message}", file=sys.stderr)


def int_between(low: int, high: int):
    """An argparse type: an integer in [low, high]."""
    def parse(text: str) -> int:
        value = int(text)  # not an integer: argparse's own "invalid integer value"
        try:
            return check_int(None, value, low, high)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parse.__name__ = "integer"  # argparse names the type in its "invalid integer value" message
    return parse


def add_lr_source_option(parser: argparse.ArgumentParser, flag: str, choices: Sequence[str], default: str,
                         help: str) -> None:
    """The option that names how the 16×16 input is made (an LR source of srnam.faces.lr_sources, or a mode built
    on them); their old spellings are read as the new ones."""
    parser.add_argument(flag, type=new_spelling(OLD_NAMES), choices=choices, default=default, help=help)


def new_spelling(old_names: dict[str, str]):
    """An argparse type that reads an option's old spellings as their new names (choices= then checks the name)."""
    def spelling(text: str) -> str:
        return old_names.get(text, text)
    return spelling


def learning_rate(text: str) -> float:
    """An argparse type: a learning rate, a number in (0, MAX_LEARNING_RATE]."""
    value = float(text)  # not a number: argparse's own "invalid learning_rate value"
    try:
        return check_rate(None, value, MAX_LEARNING_RATE)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help=MODEL_HELP)


def add_search_options(parser: argparse.ArgumentParser, candidates: int, steps: int = 300, what: str = "image") -> None:
    """``-k``, ``-n`` and ``--lr``: the search's settings, range-checked as the pipeline checks them."""
    parser.add_argument("-k", "--candidates", type=int_between(1, MAX_CANDIDATES), default=candidates,
                        help=f"HR candidates per {what} (default {candidates})")
    parser.add_argument("-n", "--steps", type=int_between(1, MAX_STEPS), default=steps,
                        help=f"search steps (default {steps})")
    parser.add_argument("--lr", "--learning-rate", dest="learning_rate", type=learning_rate,
                        help=f"Adam learning rate (default: the generator's own: {DEFAULT_LEARNING_RATE} for a "
                             f"ProGAN, 0.1 for the style and trunk students)")
    parser.add_argument("--latent-space", choices=LATENT_SPACES, default="z",
                        help="where to search: z (any generator, on the sphere), or with a style-based generator w "
                             "(the mapping's output) or w+ (one w per style layer, as PULSE does) (default z)")
    parser.add_argument("--latent-constraint", choices=LATENT_CONSTRAINTS, default="sphere",
                        help="sphere: z on its sphere, a w on the sphere of the whitened styles (PULSE's); free: "
                             "the codes go where Adam takes them (default sphere)")


def resolved_learning_rate(args: argparse.Namespace, pipe: SRNAMPipeline) -> float:
    """``--lr``, or the generator's own when it was not given (what result files record)."""
    return search_learning_rate(pipe.generator) if args.learning_rate is None else args.learning_rate


def search_settings(args: argparse.Namespace, seed: int | None = None) -> SearchSettings:
    """The :class:`SearchSettings` of :func:`add_search_options`'s arguments (and ``--optimize-noise`` and
    ``--noise-lr`` where a command has them)."""
    return SearchSettings(args.candidates, args.steps, args.learning_rate, seed,
                          optimize_noise=getattr(args, "optimize_noise", False),
                          noise_learning_rate=getattr(args, "noise_lr", DEFAULT_NOISE_LEARNING_RATE),
                          latent_space=args.latent_space, latent_constraint=args.latent_constraint)


def load_pipeline(args: argparse.Namespace, **options) -> SRNAMPipeline:
    """``--model``'s pipeline (or the shipped default); a UsageError, before any work is done, when
    ``--latent-space`` asks for a space its generator does not have (w and w+ need a style-based one)."""
    pipe = SRNAMPipeline.from_pretrained(model_location(args.model), **options)
    try:
        make_latent_space(pipe.generator, args.latent_space)
    except ValueError as err:
        raise UsageError(f"--latent-space {args.latent_space}: {err}") from None
    return pipe


def model_location(model: str | None) -> str:
    """``--model``, or the shipped default; a clear UsageError when neither is there."""
    if model:
        return model
    if not DEFAULT_CHECKPOINT.is_dir():
        raise UsageError(f"no --model given and the default checkpoint {DEFAULT_CHECKPOINT} is not there; pass "
                         f"--model with a pipeline folder or a Hub repo id (e.g. --model user/srnam-faces)")
    return str(DEFAULT_CHECKPOINT)
