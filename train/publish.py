"""Assemble a pipeline folder from a finished generator run and degradation run, write its model card,
and optionally push it to the Hugging Face Hub.

examples:
  python train/publish.py runs/progan runs/degradation --out my-pipeline \\
      --training-data "64×64 face crops of ... (licence ...)"
  python train/publish.py runs/progan runs/degradation --out my-pipeline --push user/srnam-faces
  python train/publish.py runs/progan runs/degradation --snapshot step-0004000 --out checkpoints/default \\
      --training-data-file card_data.md --examples ../shared/data/faces128/dev --evaluation eval_dev200

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
import io
import json
import os
import platform
import sys
from pathlib import Path

import torch

from srnam import ModelLoadError, SRNAMPipeline
from srnam.evaluation import showcase
from srnam.jsonfile import dumps
from srnam.evaluation.run import load_faces, make_lr_inputs, markdown_table
from srnam.search import SearchSettings
from srnam.models import DegradationGenerator, load_generator


def describe_run(run_dir: Path, export: Path, part: str) -> str:
    """Markdown: the run's config and what the exported model (in ``export/<part>``) took to train."""
    config = json.loads((run_dir / "config.json").read_text())
    info = json.loads((export / f"{part}_training.json").read_text())
    hours = info["wall_seconds"] / 3600
    lines = [f"### {part} (`{run_dir.name}`, export `{export.relative_to(run_dir)}`)", "",
             f"- {info['steps']} steps, {info['images_seen']} images seen, {hours:.2f} h of training "
             f"on {info['processes']} process(es), device `{info['device']}`",
             f"- config: `{json.dumps({k: v for k, v in config.items() if k not in ('trainer',)})}`"]
    # the degradation trainer's realism figures (srnam/evaluation/camera_realism.py), at the exported model's step or before it
    camera = [r for r in _records(run_dir) if "camera_fd" in r and r["step"] <= info["steps"]]
    if camera:
        last = camera[-1]
        lines.append(f"- realism of the LR photos at step {last['step']} (Fréchet distance of image statistics to "
                     f"the LR domain, lower is closer): {last['camera_fd']:.3f}, against "
                     f"{last['camera_fd_area']:.3f} for plain area downsampling and {last['camera_fd_floor']:.3f} "
                     f"for the LR domain's own second half (the floor); different noise vectors change a photo "
                     f"by {last['noise_spread']:.2f} 8-bit levels")
    return "\n".join(lines + [""])


def export_folder(run_dir: Path, snapshot: str | None) -> Path:
    """Where a run's model to publish is: its snapshot of that name, or its final export."""
    return run_dir / "snapshots" / snapshot if snapshot else run_dir / "export"


def _records(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def examples_section(pipe: SRNAMPipeline, folder: Path, seed: int = 0,
                     num_steps: int = 300) -> tuple[str, dict[str, bytes]]:
    """Degradation examples and latent-search results on the first faces of ``folder``."""
    names, hr, *_ = load_faces(folder, "corpus", limit=4)
    lr = make_lr_inputs(hr, names, "degrade", pipe.degradation, seed)
    figures = {
        "degradation_examples.png": showcase.degradation_examples(pipe.degradation, hr[:2], seed=seed),
        "search_examples.png": showcase.search_examples(pipe, hr, lr, SearchSettings(num_steps=num_steps, seed=seed)),
    }
    effect = showcase.noise_effect(pipe.degradation, hr, seed=seed)
    text = f"""## Examples

Faces from `{folder.name}/` ({', '.join(names)}), not seen in training, cut with the training framing.

**Degradation model.** An HR face, its LR photos D(hr, n) under five noise vectors, and plain 4× area
downsampling (`degradation_examples.png`). On these faces, different noise vectors change the LR photo by
{effect['noise_spread']:.2f} 8-bit levels on average (mean pairwise absolute difference), while the LR photo
differs from plain area downsampling by {effect['difference_from_area']:.2f} levels:

![degradation examples](degradation_examples.png)

**Latent search** (4 candidates, {num_steps} steps, seed {seed}). The LR input is made from the ground truth by the
degradation model; each row shows the input, the candidates (best LR consistency first), their LR
projections and, last, the ground truth the search never saw (`search_examples.png`):

![search examples](search_examples.png)
"""
    return text, {name: _png(image) for name, image in figures.items()}


def comparison_section(old_folder: Path, pipe: SRNAMPipeline, folder: Path, seed: int = 0,
                       num_steps: int = 300) -> tuple[str, dict]:
    """Old against new: random samples from the same z, and both searches on the same LR inputs (made by the new
    pipeline's degradation model), from the first faces of ``folder``."""
    old = SRNAMPipeline.from_pretrained(old_folder)
    names, hr, *_ = load_faces(folder, "corpus", limit=4)
    lr = make_lr_inputs(hr, names, "degrade", pipe.degradation, seed)
    labels = (f"before: {old_folder}", "this model")
    figures = {
        "comparison_samples.png": showcase.sample_comparison(dict(zip(labels, (old.generator, pipe.generator))),
                                                             num_samples=8, seed=seed),
        "comparison_search.png": showcase.search_comparison(
            dict(zip(labels, (old, pipe))), hr, lr, SearchSettings(num_steps=num_steps, seed=seed)),
    }
    text = f"""## Before and after

The models this one replaces (`{old_folder}`) against this one. Random samples G(z) from the same eight z
(`comparison_samples.png`):

![samples before and after](comparison_samples.png)

Both searches (4 candidates, {num_steps} steps, seed {seed}) on the same LR inputs, made from dev faces
({', '.join(names)}) by this model's degradation model (`comparison_search.png`):

![search before and after](comparison_search.png)
"""
    return text, {name: _png(image) for name, image in figures.items()}


def evaluation_section(folder: Path, index: int = 0) -> tuple[str, dict[str, bytes]]:
    """The table and plots of an ``srnam evaluate`` output folder; its figures without the per-face lists
    as ``evaluation.json`` (``index`` > 0: a further evaluation, its files named after its LR source)."""
    results = json.loads((folder / "results.json").read_text())
    plots = {name: (folder / name).read_bytes() for name in ("lr_consistency.png", "quality_vs_k.png")
             if (folder / name).is_file()}
    settings = results["settings"]
    command = (f"srnam evaluate {settings['hr_folder']} --model {settings['model']} --limit {settings['limit']} "
               f"-k {settings['num_candidates']} -n {settings['num_steps']} --batch-faces {settings['batch_faces']} "
               f"--seed {settings['seed']} --lr-source {settings['lr_source']}"
               + (f" --reference {settings['reference']}" if settings.get("reference") else "")
               + f" --out {folder.name}")
    # Several evaluations (e.g. per LR source) get their own file names, the first keeps the plain ones.
    suffix = "" if index == 0 else f"_{settings['lr_source']}"
    renamed = {name.replace(".png", f"{suffix}.png"): data for name, data in plots.items()}
    title = "## Evaluation" if index == 0 else f"### Evaluation with LR inputs from `{settings['lr_source']}`"
    text = "\n".join([title, "", f"Measured with `{command}`:", "", markdown_table(results), ""]
                     + [f"![{name}]({name})\n" for name in renamed])
    summary = {key: value for key, value in results.items() if key != "faces"}
    return text, {**renamed, f"evaluation{suffix}.json": dumps(summary, indent=1).encode()}


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def hardware() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"Published from {platform.processor() or platform.machine()} / {platform.system()}, "
            f"{os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generator_run", type=Path, help="run folder of train/train_progan.py")
    parser.add_argument("degradation_run", type=Path, help="run folder of train/train_degradation.py")
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
    degradation_export = export_folder(args.degradation_run, args.degradation_snapshot)
    training_data = args.training_data_file.read_text() if args.training_data_file else args.training_data
    try:
        pipe = SRNAMPipeline(
            load_generator(generator_export / "generator"),
            DegradationGenerator.from_folder(degradation_export / "degradation"),
        )
        details = "\n".join(([args.notes_file.read_text()] if args.notes_file else [])
                            + [describe_run(args.generator_run, generator_export, "generator"),
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
