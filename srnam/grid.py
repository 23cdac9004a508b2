"""The side-by-side comparison image: per candidate, the HR face, its LR projection and the LR input."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from PIL import Image, ImageDraw

from .images import tensor_to_pil

if TYPE_CHECKING:
    from .pipeline import SRNAMOutput

CELL = 128  # every tile is enlarged to CELL×CELL without smoothing, so pixels stay visible
PAD = 4
CAPTION = 16
ROW_LABELS = ("HR candidate", "its LR projection", "LR input")


def make_grid(output: "SRNAMOutput", reference: Image.Image | None = None) -> Image.Image:
    """One column per candidate (best first) with the rows of ``ROW_LABELS`` and the L1 score as a
    caption; an optional ``reference`` (e.g. the ground truth or the photo crop) as the first column."""
    columns = [(f"#{k + 1}   L1 = {l1:.3f}", [hr, lr, output.lr_input])  # "=": the font's spaces are narrow
               for k, (hr, lr, l1) in enumerate(zip(output.hr_candidates, output.lr_projections, output.lr_l1))]
    if reference is not None:
        columns.insert(0, ("reference", [reference]))
    width = len(columns) * (CELL + PAD) + PAD
    height = CAPTION + len(ROW_LABELS) * (CELL + PAD) + PAD
    grid = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for c, (caption, tiles) in enumerate(columns):
        x = PAD + c * (CELL + PAD)
        draw.text((x, 2), caption, fill=(0, 0, 0))
        for r, tile in enumerate(tiles):
            grid.paste(tile.resize((CELL, CELL), Image.Resampling.NEAREST), (x, CAPTION + r * (CELL + PAD)))
    return grid


def image_grid(images: torch.Tensor, columns: int) -> Image.Image:
    """[N, 3, H, W] in [-1, 1] → one PIL image, ``columns`` tiles wide (sample sheets)."""
    n, _, h, w = images.shape
    rows = -(-n // columns)
    grid = Image.new("RGB", (columns * w, rows * h), (255, 255, 255))
    for i, image in enumerate(images):
        grid.paste(tensor_to_pil(image), ((i % columns) * w, (i // columns) * h))
    return grid
