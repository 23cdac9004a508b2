"""``srnam push`` and ``srnam info``: publish a pipeline folder, and describe a folder or Hub repo.

Both load the pipeline with ``SRNAMPipeline.from_pretrained`` first: ``push`` so that a folder that does not
load is never published, ``info`` to count the parameters of the real weights.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import ModelLoadError
from ..pipeline import DEGRADATION_FOLDER, GENERATOR_FOLDER, SRNAMPipeline
from .common import FAILED, OK, USAGE, report_error


def add_parser(subparsers) -> None:
    push_parser = subparsers.add_parser(
        "push", help="publish a pipeline folder to the Hugging Face Hub, with its model card",
        description="Publish a pipeline folder (generator/, degradation/, README.md) to a Hub model repo, creating "
                    "the repo if needed. The folder is loaded first, so a broken one is never pushed; a folder "
                    "without a model card gets a new one (models, parameters, intended use, limitations).\n"
                    "Log in first with `hf auth login` or set HF_TOKEN."
                    "\n\nexample:\n  srnam push checkpoints/default user/srnam-faces --private",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    push_parser.add_argument("path", type=Path, metavar="PATH", help="local pipeline folder")
    push_parser.add_argument("repo_id", metavar="REPO_ID", help="Hub repo id, e.g. user/srnam-faces")
    push_parser.add_argument("--private", action="store_true", help="create the repo as private")
    push_parser.add_argument("--message", default="Upload SR-NAM pipeline", help="commit message")
    push_parser.set_defaults(run=push)

    info_parser = subparsers.add_parser(
        "info", help="show a pipeline's model configs, parameter counts and model card summary",
        description="Show what a pipeline folder or Hub repo holds: each model's class, config and parameter "
                    "count, and the model card's summary and training data."
                    "\n\nexamples:\n  srnam info user/srnam-faces\n  srnam info checkpoints/default",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    info_parser.add_argument("model", metavar="REPO_OR_PATH", help="pipeline folder or Hub repo id")
    info_parser.add_argument("--revision", help="Hub branch, tag or commit (default: main)")
    info_parser.set_defaults(run=info)


def push(args: argparse.Namespace) -> int:
    if not args.path.is_dir():
        report_error("push", f"{args.path} is not a folder (expected a pipeline folder with "
              f"{GENERATOR_FOLDER}/ and {DEGRADATION_FOLDER}/)")
        return USAGE
    try:
        pipe = SRNAMPipeline.from_pretrained(args.path, device="cpu")
    except ModelLoadError as err:
        report_error("push", f"not pushing {args.path}, it does not load: {err}")
        return USAGE
    if pipe.model_card is None:
        print(f"{args.path} has no model card (README.md): pushing a new one; edit it to describe the training data")
    # push_to_hub re-saves what was loaded: exactly the files from_pretrained reads, the folder's card kept.
    import httpx  # huggingface_hub's HTTP client
    from huggingface_hub.errors import HfHubHTTPError

    try:
        url = pipe.push_to_hub(args.repo_id, private=args.private or None, commit_message=args.message)
    except (HfHubHTTPError, httpx.HTTPError, ValueError) as err:  # no permission, Hub unreachable, bad repo id
        report_error("push", f"could not push to {args.repo_id}: {err}")
        return FAILED
    print(f"pushed {args.path} to {args.repo_id}: {url}")
    return OK


def info(args: argparse.Namespace) -> int:
    try:
        pipe = SRNAMPipeline.from_pretrained(args.model, revision=args.revision, device="cpu")
    except ModelLoadError as err:
        report_error("info", err)
        return USAGE
    print(f"SR-NAM pipeline {args.model}" + (f" at {args.revision}" if args.revision else ""))
    for folder, model in ((GENERATOR_FOLDER, pipe.generator), (DEGRADATION_FOLDER, pipe.degradation)):
        params = sum(p.numel() for p in model.parameters())
        print(f"\n{folder}/  {type(model).__name__}  {params:,} parameters ({params / 1e6:.2f} M)")
        # The mixin records the __init__ arguments, which is what config.json holds.
        for key, value in sorted((getattr(model, "_hub_mixin_config", None) or {}).items()):
            print(f"  {key}: {list(value) if isinstance(value, tuple) else value}")
    print()
    print(card_summary(pipe.model_card) if pipe.model_card else "no model card (README.md)")
    return OK


def card_summary(card: str) -> str:
    """The card's first paragraph and its training data section, without the YAML header."""
    body = re.sub(r"\A---\n.*?\n---\n", "", card, flags=re.DOTALL)
    # shape: [intro, heading 1, text 1, heading 2, text 2, ...] split at the "## " headings
    parts = re.split(r"^## +(.+?)\s*$", body, flags=re.MULTILINE)
    intro = [p.strip() for p in parts[0].split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    first = intro[0] if intro else ""
    # up to its last full stop: the paragraph may run on into an example ("Load it with")
    sentences = re.match(r"(?s).*[.!?](?=\s|$)", first)
    lines = ["model card:", sentences.group(0) if sentences else first]
    for heading, text in zip(parts[1::2], parts[2::2]):
        if heading.lower() == "training data":
            lines += ["", f"{heading}:", text.strip()]
    return "\n".join(lines)
