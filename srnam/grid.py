"""Grids of images: the comparison image of a search, the model card's figures and sample sheets.

One drawer, :func:`make_grid`, takes columns of tiles and a caption per column; the others say what goes in
the columns. Tiles are PIL images or [3, H, W] tensors in [-1, 1], enlarged without smoothing so that the
pixels of a 16×16 image stay visible.
"""
from __future__ import annotations

from typing import Sequence

import torch
from PIL import Image, ImageDraw

from .images import tensor_to_pil

CELL = 128
PAD = 4
CAPTION = 16
ROW_LABELS = ("HR candidate", "its LR projection", "LR input")

Tile = Image.Image | torch.Tensor


def make_grid(columns: Sequence[Sequence[Tile]], captions: Sequence[str] | None = None, *, cell: int | None = CELL,
              pad: int = PAD) -> Image.Image:
    """Each entry of ``columns`` is one column of tiles, top to bottom (columns may differ in length), under its
    caption (``captions``: one per column, or None for no caption band). ``cell``: the side every tile is
    resized to (nearest neighbour); None keeps the tiles' own size (they must then be alike)."""
    if captions is not None and len(captions) != len(columns):
        raise ValueError(f"make_grid needs one caption per column: {len(captions)} for {len(columns)} columns")
    tiles = [[tensor_to_pil(t) if isinstance(t, torch.Tensor) else t for t in column] for column in columns]
    width, height = (cell, cell) if cell else tiles[0][0].size
    caption = CAPTION if captions is not None else 0
    rows = max(len(column) for column in tiles)
    grid = Image.new("RGB", (pad + len(tiles) * (width + pad), caption + rows * (height + pad) + pad), "white")
    draw = ImageDraw.Draw(grid)
    for c, column in enumerate(tiles):
        x = pad + c * (width + pad)
        if captions is not None:
            draw.text((x, 2), captions[c], fill=(0, 0, 0))
        for r, tile in enumerate(column):
            if cell:
                tile = tile.resize((cell, cell), Image.Resampling.NEAREST)
            grid.paste(tile, (x, caption + pad * (captions is None) + r * (height + pad)))
    return grid


def candidate_grid(hr_candidates: Sequence[Tile], lr_projections: Sequence[Tile], lr_input: Tile,
                   lr_l1: Sequence[float], reference: Tile | None = None, search_order: bool = False) -> Image.Image:
    """The comparison image of one search: a column per candidate with the rows of ``ROW_LABELS``, captioned with
    its LR L1; an optional ``reference`` (e.g. the ground truth or the photo crop) first.

    Candidates are captioned "#1", "#2", … best first (a final result); with ``search_order=True`` (a search still
    running, whose columns must not jump about) "start 1", "start 2", … in the order the search started them."""
    columns = [[hr, lr, lr_input] for hr, lr in zip(hr_candidates, lr_projections)]
    label = "start {}" if search_order else "#{}"
    # "=": the font's spaces are narrow
    captions = [f"{label.format(k)}   L1 = {l1:.3f}" for k, l1 in enumerate(lr_l1, start=1)]
    if reference is not None:
        columns.insert(0, [reference])
        captions.insert(0, "reference")
    return make_grid(columns, captions)


def image_grid(images: torch.Tensor, columns: int) -> Image.Image:
    """[N, 3, H, W] in [-1, 1] → a sample sheet ``columns`` tiles wide, at the images' own size, no gaps."""
    per_column = [list(images[c::columns]) for c in range(min(columns, len(images)))]
    return make_grid(per_column, cell=None, pad=0)
