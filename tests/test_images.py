import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from srnam.errors import InvalidImageError
from srnam.images import lr_tensor, open_image, pil_to_tensor, tensor_to_pil


def _save(tmp_path, image, name, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def _png_header_only(path, width, height):
    """A PNG that claims width×height pixels but is a few bytes: a decompression bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_rgba_is_composited_on_white(tmp_path):
    image = Image.new("RGBA", (32, 32), (255, 0, 0, 0))  # fully transparent red
    image.paste((0, 0, 255, 255), (0, 0, 16, 32))  # opaque blue left half
    rgb = open_image(_save(tmp_path, image, "a.png"))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (0, 0, 255) and rgb.getpixel((31, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "LA"])
def test_other_modes_become_rgb(tmp_path, mode):
    image = Image.new("RGB", (40, 40), (200, 120, 40)).convert(mode)
    path = _save(tmp_path, image, "x.jpg" if mode == "CMYK" else "x.png")
    rgb = open_image(path)
    assert rgb.mode == "RGB" and rgb.size == (40, 40)
    if mode == "L":
        assert len(set(rgb.getpixel((5, 5)))) == 1  # gray repeated to 3 channels


def test_16_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32768], [65535, 16384]], dtype=np.uint16).repeat(16, 0).repeat(16, 1)
    path = _save(tmp_path, Image.fromarray(values), "deep.png")
    assert Image.open(path).mode.startswith("I")
    rgb = open_image(path)
    assert rgb.getpixel((0, 0)) == (0, 0, 0) and rgb.getpixel((0, 31)) == (255, 255, 255)
    assert rgb.getpixel((31, 0))[0] == 128 and rgb.getpixel((31, 31))[0] == 64


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (32, 64), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 32, 16))  # white band on top
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    path = _save(tmp_path, image, "rot.jpg", exif=exif, quality=95)
    upright = open_image(path)  # displayed 64 wide × 32 high → centre square 32×32
    assert upright.size == (32, 32)
    # the band that was on top is on the right after rotation, outside the centre square: all dark
    assert np.asarray(upright).mean() < 30


def test_non_square_is_centre_cropped(tmp_path):
    image = Image.new("RGB", (60, 20), (255, 0, 0))
    image.paste((0, 255, 0), (20, 0, 40, 20))
    assert open_image(_save(tmp_path, image, "wide.png")).getcolors() == [(400, (0, 255, 0))]


def test_lr_tensor_area_downsamples(tmp_path):
    image = Image.new("RGB", (64, 64), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 2, 2))  # a 2×2 white corner → one 4×4 LR cell is 1/4 white
    lr = lr_tensor(image)
    assert lr.shape == (1, 3, 16, 16)
    assert lr[0, 0, 0, 0].item() == pytest.approx(64 / 127.5 - 1, abs=1e-6)  # round(255/4) = 64
    assert lr[0, :, 1:, 1:].eq(-1).all()
    small = Image.new("RGB", (16, 16), (10, 20, 30))
    torch.testing.assert_close(lr_tensor(small), pil_to_tensor(small))


def test_lr_tensor_from_tensor():
    x = torch.zeros(3, 32, 32)
    x[:, :2, :2] = 1.0
    lr = lr_tensor(x)
    assert lr.shape == (1, 3, 16, 16) and lr[0, 0, 0, 0].item() == pytest.approx(1.0)
    assert lr[0, 0, 0, 1].item() == pytest.approx(-1.0)
    with pytest.raises(InvalidImageError, match=r"values in \[0, 1\]"):
        lr_tensor(torch.full((3, 16, 16), 2.0))
    with pytest.raises(InvalidImageError, match="one RGB image"):
        lr_tensor(torch.zeros(2, 3, 16, 16))
    with pytest.raises(InvalidImageError, match="too small"):
        lr_tensor(torch.zeros(3, 1, 1))
    with pytest.raises(InvalidImageError, match="must be float"):
        lr_tensor(torch.zeros(3, 16, 16, dtype=torch.uint8))


def test_tensor_pil_round_trip():
    image = Image.effect_noise((16, 16), 80).convert("RGB")
    assert tensor_to_pil(pil_to_tensor(image)[0]).tobytes() == image.tobytes()


@pytest.mark.parametrize("name", [
    "Family reunion at grandma's house, summer 2024 - everyone.jpg",
    "tab\tand\nnewline.png",
], ids=["long", "tab-newline"])
def test_files_open_by_their_real_path_whatever_the_name(tmp_path, name):
    # a path over MAX_NAME_SHOWN characters (and one the messages repr()) still opens: only messages shorten it
    folder = tmp_path / ("d" * 100) / ("e" * 100)
    folder.mkdir(parents=True)
    path = _save(folder, Image.new("RGB", (40, 30), (10, 200, 30)), name)
    assert len(str(path)) > 120
    image = open_image(path, square=False)
    assert image.size == (40, 30) and image.getpixel((0, 0)) == (10, 200, 30)


def test_messages_shorten_long_names_and_quote_no_server_path(tmp_path):
    folder = tmp_path / ("d" * 150)
    folder.mkdir()
    path = folder / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then nothing usable
    with pytest.raises(InvalidImageError) as caught:
        open_image(path)
    message = str(caught.value)
    assert message.endswith(caught.value.detail) and "…" in message and str(path) not in message
    assert str(folder) not in caught.value.detail  # what the app shows after the user's own file name
