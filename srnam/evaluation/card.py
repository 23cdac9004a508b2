"""The sections of a published model card, beside the figures of :mod:`srnam.evaluation.showcase`: how each run
trained, example searches, old against new, and an ``srnam evaluate`` folder's table and plots. Each section is
Markdown and the figures it shows (file name → PNG bytes), for ``SRNAMPipeline.card_assets``; ``train/publish.py``
puts them together.
"""
from __future__ import annotations

import io
import json
import os
import platform
from pathlib import Path

import torch

from ..jsonfile import dumps
from ..pipeline import SRNAMPipeline
from ..search import SearchSettings
from . import showcase
from .report import markdown_table
from .results import EvaluationResult
from .run import load_faces, make_lr_inputs


def describe_run(run_dir: Path, export: Path, part: str) -> str:
    """Markdown: the run's config and what the exported model (in ``export/<part>``) took to train."""
    config = json.loads((run_dir / "config.json").read_text())
    info = json.loads((export / f"{part}_training.json").read_text())
    hours = info["wall_seconds"] / 3600
    lines = [f"### {part} (`{run_dir.name}`, export `{export.relative_to(run_dir)}`)", "",
             f"- {info['steps']} steps, {info['images_seen']} images seen, {hours:.2f} h of training "
             f"on {info['processes']} process(es), device `{info['device']}`",
             f"- config: `{json.dumps({k: v for k, v in config.items() if k not in ('trainer',)})}`"]
    # the degradation trainer's realism figures (srnam/evaluation/camera_realism.py), at the exported model's step
    # or before it
    camera = [r for r in _records(run_dir) if "camera_fd" in r and r["step"] <= info["steps"]]
    if camera:
        last = camera[-1]
        lines.append(f"- realism of the LR photos at step {last['step']} (Fréchet distance of image statistics to "
                     f"the LR domain, lower is closer): {last['camera_fd']:.3f}, against "
                     f"{last['camera_fd_area']:.3f} for plain area downsampling and {last['camera_fd_floor']:.3f} "
                     f"for the LR domain's own second half (the floor); different noise vectors change a photo "
                     f"by {last['noise_spread']:.2f} 8-bit levels")
    return "\n".join(lines + [""])


def describe_kept(pipeline_dir: Path, part: str) -> str:
    """Markdown for a part taken unchanged from a published pipeline (a new generator beside the shipped camera):
    that pipeline's own card section on how the part trained, when its card has one."""
    card = pipeline_dir / "README.md"
    lines = card.read_text(encoding="utf-8").splitlines() if card.is_file() else []
    start = next((i for i, line in enumerate(lines) if line.startswith(f"### {part} ")), None)
    if start is None:
        return f"### {part}\n\n- kept unchanged from `{pipeline_dir.name}`, whose card does not say how it trained\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    # (its card's line on the machine it was published from belongs to that card, not to this part)
    body = "\n".join(line for line in lines[start + 1:end] if not line.startswith("Published from ")).strip()
    return f"{lines[start]}\n\nKept unchanged from the pipeline `{pipeline_dir.name}`; its card says:\n\n{body}\n"


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
    results = EvaluationResult.from_json(json.loads((folder / "results.json").read_text()))
    plots = {name: (folder / name).read_bytes() for name in ("lr_consistency.png", "quality_vs_k.png")
             if (folder / name).is_file()}
    settings = results.settings
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
    summary = {key: value for key, value in results.to_json().items() if key != "faces"}
    return text, {**renamed, f"evaluation{suffix}.json": dumps(summary, indent=1).encode()}


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def hardware() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"Published from {platform.processor() or platform.machine()} / {platform.system()}, "
            f"{os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}.")
