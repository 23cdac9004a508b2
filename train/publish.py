"""Assemble a pipeline folder from a finished generator run and degradation run, write its model card,
and optionally push it to the Hugging Face Hub.

examples:
  python train/publish.py runs/progan runs/degradation --out my-pipeline \\
      --training-data "64×64 face crops of ... (licence ...)"
  python train/publish.py runs/progan runs/degradation --out my-pipeline --push user/srnam-faces
  python train/publish.py runs/progan runs/degradation --snapshot step-0004000 --out checkpoints/default \\
      --training-data-file card_data.md --examples ../shared/data/faces128/dev --evaluation eval_dev200
  python train/publish.py runs/sharpen checkpoints/default --snapshot step-0001000 --out new-pipeline \
      --training-data "..."      # a new generator beside a published pipeline's camera, kept as it is

The model card records each run's config, steps, images, processes, hardware and wall time (from the
run folders) and shows a sample grid of random faces from the generator. With --examples (a folder of
held-out portraits, framed like the training data) it also shows degradation examples (one HR face, LR
photos under several noise vectors) and latent-search results; with --compare-with (the pipeline folder this
one replaces) and --examples, old against new: random samples from the same z and search results on the
same inputs; with --evaluation (an ``srnam evaluate`` output folder, repeatable) the figures and plots of
that evaluation.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srnam import ModelLoadError, SRNAMPipeline
from srnam.evaluation.card import (comparison_section, describe_kept, describe_run, evaluation_section, examples_section,
                                   hardware)
from srnam.models import DegradationGenerator, load_generator


def export_folder(run_dir: Path, snapshot: str | None) -> Path:
    """Where a run's model to publish is: its snapshot of that name, or its final export."""
    return run_dir / "snapshots" / snapshot if snapshot else run_dir / "export"


def is_pipeline(folder: Path) -> bool:
    """A published pipeline (generator/ and degradation/ beside each other), not a run folder (config.json, export/)."""
    return (folder / "degradation" / "config.json").is_file() and not (folder / "config.json").is_file()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generator_run", type=Path, help="run folder of train/train_progan.py or train_distill.py")
    parser.add_argument("degradation_run", type=Path, help="run folder of train/train_degradation.py, or a pipeline "
                                                           "folder whose degradation model to keep (its card's "
                                                           "account of how it trained goes into the new card)")
    parser.add_argument("--out", type=Path, required=True, help="pipeline folder to write")
    parser.add_argument("--snapshot", help="use the generator snapshot of this name (in GENERATOR_RUN/snapshots/) "
                                           "instead of the run's final export")
    parser.add_argument("--degradation-snapshot", help="use the degradation snapshot of this name (in "
                                                       "DEGRADATION_RUN/snapshots/) instead of the run's final export")
    parser.add_argument("--training-data", help="Markdown describing the training data (source, licence)")
    parser.add_argument("--training-data-file", type=Path, help="the same, read from a Markdown file")
    parser.add_argument("--notes-file", type=Path,
                        help="Markdown for the card's training section, before the runs' details (method, history)")
    parser.add_argument("--examples", type=Path, help="folder of held-out portraits for the card's example figures")
    parser.add_argument("--evaluation", type=Path, action="append", default=[],
                        help="output folder of srnam evaluate, for the card's figures; repeatable")
    parser.add_argument("--example-steps", type=int, default=300, help="search steps of the example figures (300)")
    parser.add_argument("--compare-with", type=Path,
                        help="the pipeline folder this one replaces: before/after figures (needs --examples)")
    parser.add_argument("--section-file", type=Path, action="append", default=[],
                        help="a Markdown file with more card sections (e.g. known limitations); repeatable")
    parser.add_argument("--push", metavar="REPO_ID", help="also push the pipeline to this Hub repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    args = parser.parse_args(argv)
    generator_export = export_folder(args.generator_run, args.snapshot)
    kept = is_pipeline(args.degradation_run)
    if kept and args.degradation_snapshot:
        print(f"error: {args.degradation_run} is a pipeline folder, not a run: it has no snapshots", file=sys.stderr)
        return 1
    degradation_export = args.degradation_run if kept else export_folder(args.degradation_run, args.degradation_snapshot)
    training_data = args.training_data_file.read_text() if args.training_data_file else args.training_data
    try:
        pipe = SRNAMPipeline(
            load_generator(generator_export / "generator"),
            DegradationGenerator.from_folder(degradation_export / "degradation"),
        )
        details = "\n".join(([args.notes_file.read_text()] if args.notes_file else [])
                            + [describe_run(args.generator_run, generator_export, "generator"),
                               describe_kept(args.degradation_run, "degradation") if kept else
                               describe_run(args.degradation_run, degradation_export, "degradation"), hardware()])
    except (ModelLoadError, FileNotFoundError) as err:
        print(f"error: {err} (has the run finished and exported?)", file=sys.stderr)
        return 1
    if args.compare_with and not args.examples:
        print("error: --compare-with needs --examples (the faces to compare on)", file=sys.stderr)
        return 1
    made = ([examples_section(pipe, args.examples, num_steps=args.example_steps)] if args.examples else []) + \
        ([comparison_section(args.compare_with, pipe, args.examples, num_steps=args.example_steps)]
         if args.compare_with else []) + \
        [evaluation_section(folder, i) for i, folder in enumerate(args.evaluation)]
    sections = [text for text, _ in made] + [path.read_text() for path in args.section_file]
    for _, assets in made:
        pipe.card_assets.update(assets)
    pipe.save_pretrained(args.out, training_data=training_data, training_details=details,
                         sections="\n".join(sections) or None)
    print(f"wrote {args.out} (model card: {args.out / 'README.md'})")
    if args.push:
        url = pipe.push_to_hub(args.push, private=args.private or None, training_data=training_data,
                               training_details=details, sections="\n".join(sections) or None)
        print(f"pushed to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
