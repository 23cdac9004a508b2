"""Assemble a pipeline folder from a finished generator run and degradation run, write its model card,
and optionally push it to the Hugging Face Hub.

examples:
  python train/publish.py runs/progan runs/degradation --out my-pipeline \\
      --training-data "64×64 face crops of ... (licence ...)"
  python train/publish.py runs/progan runs/degradation --out my-pipeline --push user/srnam-faces

The model card records each run's config, steps, images, processes, hardware and wall time (from the
run folders) and shows a sample grid of random faces from the generator.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from srnam import ModelLoadError, SRNAMPipeline
from srnam.models import DegradationGenerator, ProGANGenerator


def describe_run(run_dir: Path, part: str) -> str:
    """Markdown: the run's config and what the exported model's training took."""
    config = json.loads((run_dir / "config.json").read_text())
    info = json.loads((run_dir / "export" / f"{part}_training.json").read_text())
    hours = info["wall_seconds"] / 3600
    lines = [f"### {part} (`{run_dir.name}`)", "",
             f"- {info['steps']} steps, {info['images_seen']} images seen, {hours:.2f} h of training "
             f"on {info['processes']} process(es), device `{info['device']}`",
             f"- config: `{json.dumps({k: v for k, v in config.items() if k not in ('trainer',)})}`", ""]
    return "\n".join(lines)


def hardware() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"published from {platform.machine()} / {platform.system()}, {gpu}, torch {torch.__version__}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generator_run", type=Path, help="run folder of train/train_progan.py")
    parser.add_argument("degradation_run", type=Path, help="run folder of train/train_degradation.py")
    parser.add_argument("--out", type=Path, required=True, help="pipeline folder to write")
    parser.add_argument("--training-data", help="Markdown describing the training data (source, licence)")
    parser.add_argument("--push", metavar="REPO_ID", help="also push the pipeline to this Hub repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    args = parser.parse_args(argv)
    try:
        pipe = SRNAMPipeline(
            ProGANGenerator.from_folder(args.generator_run / "export" / "generator"),
            DegradationGenerator.from_folder(args.degradation_run / "export" / "degradation"),
        )
        details = "\n".join([describe_run(args.generator_run, "generator"),
                             describe_run(args.degradation_run, "degradation"), hardware()])
    except (ModelLoadError, FileNotFoundError) as err:
        print(f"error: {err} (has the run finished and exported?)", file=sys.stderr)
        return 1
    pipe.save_pretrained(args.out, training_data=args.training_data, training_details=details)
    print(f"wrote {args.out} (model card: {args.out / 'README.md'})")
    if args.push:
        url = pipe.push_to_hub(args.push, private=args.private or None, training_data=args.training_data,
                               training_details=details)
        print(f"pushed to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
