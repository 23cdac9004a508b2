"""Figures for a model card: what the degradation model does, what the latent search finds, and how a
model compares with the one it replaces.

Both take faces the models were not trained on (e.g. the corpus's dev/ split) and draw labelled grids
of enlarged tiles (no smoothing, so the 16×16 pixels stay visible).
"""
from __future__ import annotations

import torch
from PIL import Image, ImageDraw

from .camera_realism import noise_spread
from ..grid import make_grid
from ..images import to_unit_range
from ..search import SearchSettings

TILE = 96
PAD = 4
CAPTION = 16


def labelled_rows(header: list[str], rows: list[list[torch.Tensor]]) -> Image.Image:
    """A grid with one caption per column and one row of tiles ([3, H, W] in [-1, 1]) per entry of ``rows``."""
    return make_grid([list(column) for column in zip(*rows)], header, cell=TILE)


def degradation_examples(degradation, hr: torch.Tensor, num_noise: int = 5, seed: int = 0) -> Image.Image:
    """Per face of ``hr`` [F, 3, 64, 64]: the face, then its LR photo D(hr, n) under ``num_noise`` noise
    vectors (the same vectors for every face), then plain 4× area downsampling for comparison."""
    seeds = [seed + i for i in range(num_noise)]
    rows = []
    for face in hr:
        lr = degradation.photograph(face.expand(num_noise, -1, -1, -1), seeds)  # [num_noise, 3, 16, 16]
        rows.append([face, *lr, torch.nn.functional.avg_pool2d(face[None], 4)[0]])
    return labelled_rows(["HR face", *(f"D(hr, noise {s})" for s in seeds), "area 1/4"], rows)


def noise_effect(degradation, hr: torch.Tensor, num_noise: int = 5, seed: int = 0) -> dict[str, float]:
    """How much the noise input matters, in 8-bit levels, averaged over the faces ``hr`` [F, 3, 64, 64]: the mean
    pairwise absolute difference between one face's LR photos under ``num_noise`` noise vectors, and, for scale,
    the mean absolute difference between an LR photo and plain 4× area downsampling."""
    seeds = [seed + i for i in range(num_noise)]
    per_face = torch.stack([to_unit_range(degradation.photograph(face.expand(num_noise, -1, -1, -1), seeds))
                            for face in hr])  # [F, num_noise, 3, 16, 16]
    area = to_unit_range(torch.nn.functional.avg_pool2d(hr, 4))[:, None]  # [F, 1, 3, 16, 16]
    return {"noise_spread": noise_spread(per_face), "difference_from_area": 255 * float((per_face - area).abs().mean())}


def search_examples(pipe, hr: torch.Tensor, lr: torch.Tensor,
                    search: SearchSettings = SearchSettings(seed=0)) -> Image.Image:
    """Per face: the LR input ``lr`` [F, 3, 16, 16] in [-1, 1], the pipeline's HR candidates (best LR consistency
    first, as the pipeline sorts them), their LR projections, and the ground truth ``hr`` [F, 3, 64, 64] last."""
    search = search.checked()
    outputs = pipe.outputs(pipe.search(lr, search), lr, search.seed, "pt")  # images in [0, 1]
    rows = [[lr[f], *(out.hr_candidates * 2 - 1), *(out.lr_projections * 2 - 1), hr[f]]
            for f, out in enumerate(outputs)]
    k = search.num_candidates
    header = ["LR input", *(f"candidate {i + 1}" for i in range(k)), *(f"its LR {i + 1}" for i in range(k)),
              "ground truth"]
    return labelled_rows(header, rows)


def stacked(panels: list[tuple[str, Image.Image]]) -> Image.Image:
    """Figures one below the other, each under its title."""
    width = max(image.width for _, image in panels)
    height = sum(CAPTION + image.height for _, image in panels)
    out = Image.new("RGB", (width, height), "white")
    draw, y = ImageDraw.Draw(out), 0
    for title, image in panels:
        draw.text((PAD, y + 2), title, fill=(0, 0, 0))
        out.paste(image, (0, y + CAPTION))
        y += CAPTION + image.height
    return out


@torch.no_grad()
def sample_comparison(generators: dict[str, torch.nn.Module], num_samples: int = 8, seed: int = 0) -> Image.Image:
    """One row of random samples G(z) per generator (label → model), the same z for all."""
    latent_size = next(iter(generators.values())).latent_size
    z = torch.randn(num_samples, latent_size, generator=torch.Generator().manual_seed(seed))
    rows = [[*g(z)] for g in generators.values()]
    grid = labelled_rows([f"z {i + 1}" for i in range(num_samples)], rows)
    return stacked([(" / ".join(f"row {i + 1}: {label}" for i, label in enumerate(generators)), grid)])


def search_comparison(pipelines: dict, hr: torch.Tensor, lr: torch.Tensor,
                      search: SearchSettings = SearchSettings(seed=0)) -> Image.Image:
    """``search_examples`` for each pipeline (label → pipeline) on the same LR inputs, stacked."""
    return stacked([(label, search_examples(pipe, hr, lr, search)) for label, pipe in pipelines.items()])
