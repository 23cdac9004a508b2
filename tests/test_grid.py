import pytest
import torch
from PIL import Image

from srnam.grid import CAPTION, CELL, PAD, candidate_grid, image_grid, make_grid


def test_make_grid_draws_columns_of_tiles_under_their_captions():
    red, blue = Image.new("RGB", (16, 16), (255, 0, 0)), torch.full((3, 8, 8), -1.0)  # a tensor tile: black
    grid = make_grid([[red, blue], [blue]], ["a", "b"], cell=32)
    assert grid.size == (PAD + 2 * (32 + PAD), CAPTION + 2 * (32 + PAD) + PAD)
    assert grid.getpixel((PAD + 5, CAPTION + 5)) == (255, 0, 0)  # column 1, row 1, enlarged
    assert grid.getpixel((PAD + 5, CAPTION + 32 + PAD + 5)) == (0, 0, 0)  # column 1, row 2: the tensor
    assert grid.getpixel((2 * PAD + 32 + 5, CAPTION + 32 + PAD + 5)) == (255, 255, 255)  # column 2 is shorter
    with pytest.raises(ValueError, match="one caption per column: 1 for 2 columns"):
        make_grid([[red], [red]], ["only one"])


def test_candidate_grid_and_sample_sheets():
    tile = Image.new("RGB", (64, 64), (0, 255, 0))
    grid = candidate_grid([tile] * 3, [tile.resize((16, 16))] * 3, tile.resize((16, 16)), [0.1, 0.2, 0.3],
                          reference=tile)
    assert grid.size == (PAD + 4 * (CELL + PAD), CAPTION + 3 * (CELL + PAD) + PAD)  # reference + 3 candidates
    sheet = image_grid(torch.zeros(6, 3, 8, 8), columns=4)
    assert sheet.size == (4 * 8, 2 * 8) and sheet.getpixel((0, 0)) == (128, 128, 128)
