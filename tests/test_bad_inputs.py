"""The bad-input corpus: what users and attackers hand SR-NAM, and the specific error each must get.

Each table row is one case; a new case is one line. Images go through the pipeline (``pipe(x)``), model
folders through ``SRNAMPipeline.from_pretrained`` and ``srnam upscale --model`` (exit status 2, one line,
no traceback).
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_models
from PIL import Image
from safetensors.torch import load_file, save_file
from test_images import _png_header_only

from srnam import InvalidImageError, ModelLoadError, SRNAMPipeline
from srnam.commands import main as cli_main
from srnam.errors import SearchDivergedError


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


def _truncated_jpeg(tmp_path: Path) -> Path:
    Image.effect_noise((64, 64), 50).convert("RGB").save(tmp_path / "full.jpg")
    return _file(tmp_path, "truncated.jpg", (tmp_path / "full.jpg").read_bytes()[:600])


def _image(tmp_path: Path, size, mode="RGB") -> Path:
    Image.new(mode, size).save(tmp_path / "image.png")
    return tmp_path / "image.png"


# (case, make the input from tmp_path, expected error, message pattern)
IMAGES = [
    ("not an image", lambda t: _file(t, "notes.png", b"this is not an image"), InvalidImageError, "not an image file"),
    ("missing file", lambda t: t / "missing.png", InvalidImageError, "missing.png: no such file"),
    ("a folder", lambda t: t, InvalidImageError, "no such file"),
    ("truncated", _truncated_jpeg, InvalidImageError, "truncated or corrupt"),
    ("1×1", lambda t: _image(t, (1, 1)), InvalidImageError, r"too small \(1×1\)"),
    ("15×200", lambda t: _image(t, (15, 200)), InvalidImageError, r"too small \(15×200\)"),
    ("decompression bomb", lambda t: _png_header_only(t / "bomb.png", 20000, 20000), InvalidImageError, "too large"),
    ("48 MP", lambda t: _png_header_only(t / "big.png", 8000, 6000), InvalidImageError, "too large"),
    ("over-long path", lambda t: "x" * 5000, InvalidImageError, r"x…: not a usable file path"),
    ("NUL in path", lambda t: "face\x00.png", InvalidImageError, r"'face\\x00.png': no such file"),
    ("None", lambda t: None, TypeError, r"expected a file path, a PIL image, a numpy array \(H×W, H×W×3 or H×W×4; "
     r"uint8, or float in \[0, 1\]\) .*; got NoneType"),
    ("bytes", lambda t: b"\x89PNG", TypeError, "got bytes"),
    ("a list", lambda t: [[0, 0, 0]], TypeError, "got list"),
    ("tiny array", lambda t: np.zeros((5, 5, 3), np.uint8), InvalidImageError, r"array input: image too small"),
    ("array of 2 channels", lambda t: np.zeros((20, 20, 2), np.uint8), InvalidImageError, "H×W, H×W×3 or H×W×4"),
    ("int64 array", lambda t: np.zeros((20, 20, 3), np.int64), InvalidImageError, "got dtype int64"),
    ("float array above 1", lambda t: np.full((20, 20, 3), 2.0), InvalidImageError, r"finite values in \[0, 1\]"),
    ("NaN array", lambda t: np.full((20, 20, 3), np.nan), InvalidImageError, r"finite values in \[0, 1\]"),
    ("4-d tensor of 2", lambda t: torch.zeros(2, 3, 16, 16), InvalidImageError, r"\[3, H, W\] or \[1, 3, H, W\]"),
    ("uint8 tensor", lambda t: torch.zeros(3, 16, 16, dtype=torch.uint8), InvalidImageError, "must be float"),
]


@pytest.fixture(scope="module")
def pipe():
    return SRNAMPipeline(*make_tiny_models(), device="cpu")


@pytest.mark.parametrize("make, error, message", [row[1:] for row in IMAGES], ids=[row[0] for row in IMAGES])
def test_bad_image_inputs(pipe, tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        pipe(make(tmp_path), num_candidates=1, num_steps=1)


@pytest.mark.parametrize("array", [
    (np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8),  # H×W×3 uint8
    np.random.default_rng(0).random((40, 30, 3)),  # float in [0, 1]
    (np.random.default_rng(0).random((24, 24)) * 255).astype(np.uint8),  # grey
    (np.random.default_rng(0).random((24, 24, 4)) * 255).astype(np.uint8),  # RGBA: onto white, as for PIL
], ids=["uint8", "float", "grey", "rgba"])
def test_numpy_arrays_are_images_like_their_pil_versions(pipe, array):
    as_uint8 = array if array.dtype == np.uint8 else (array * 255 + 0.5).astype(np.uint8)
    expected = pipe(Image.fromarray(as_uint8), num_candidates=2, num_steps=2, seed=3)
    got = pipe(array, num_candidates=2, num_steps=2, seed=3)
    assert got.lr_input.tobytes() == expected.lr_input.tobytes() and got.lr_l1 == expected.lr_l1


# ---------------------------------------------------------------------- model folders
def _set_config(folder: Path, part: str, **fields) -> None:
    path = folder / part / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _set_weights(folder: Path, part: str, fill: float) -> None:
    path = folder / part / "model.safetensors"
    state = load_file(path)
    state[sorted(state)[0]].fill_(fill)
    save_file(state, path)


def _header_claims_a_huge_tensor(folder: Path) -> None:
    """A safetensors header that declares a 10^12-element tensor the file does not hold."""
    header = json.dumps({"input.weight": {"dtype": "F32", "shape": [1000000, 1000000],
                                          "data_offsets": [0, 4 * 10**12]}}).encode()
    (folder / "generator" / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 64)


# (case, break the saved tiny pipeline folder, message pattern)
MODEL_FOLDERS = [
    ("huge latent_size", lambda f: _set_config(f, "generator", latent_size=10**12),
     r"latent_size must be in \[1, 4096\], got 1000000000000"),
    ("negative width", lambda f: _set_config(f, "generator", channels=[16, -1, 8, 8, 4]),
     r"channels\[1\] must be in \[1, 4096\], got -1"),
    ("too many stages", lambda f: _set_config(f, "generator", channels=[8] * 20), "channels must have 1 to 9 entries"),
    ("width as text", lambda f: _set_config(f, "generator", channels="16,16"), "channels must be a list of integers"),
    ("bool as size", lambda f: _set_config(f, "generator", latent_size=True), "latent_size must be an integer"),
    ("float size", lambda f: _set_config(f, "degradation", noise_size=8.5), "noise_size must be an integer"),
    ("hr_size not ×16", lambda f: _set_config(f, "degradation", hr_size=40), "hr_size must be a multiple of 16"),
    ("residual as text", lambda f: _set_config(f, "degradation", residual="yes"), "residual must be true or false"),
    ("unknown field", lambda f: _set_config(f, "generator", __class__="os.system"), "unknown field '__class__'"),
    ("config is a list", lambda f: (f / "generator" / "config.json").write_text("[32, 16]"), "expected a JSON object"),
    ("config not JSON", lambda f: (f / "generator" / "config.json").write_text("{not json"), "not JSON"),
    ("huge config", lambda f: (f / "generator" / "config.json").write_text(" " * 100_000 + "{}"),
     "not a model config"),
    ("NaN weights", lambda f: _set_weights(f, "generator", float("nan")), "non-finite values .*NaN or infinity"),
    ("inf weights", lambda f: _set_weights(f, "degradation", float("inf")), "non-finite values"),
    ("header lies", _header_claims_a_huge_tensor, "not a readable safetensors file"),
    ("empty weights", lambda f: (f / "generator" / "model.safetensors").write_bytes(b""),
     "not a readable safetensors file"),
]


@pytest.fixture
def folder(pipe, tmp_path):
    return pipe.save_pretrained(tmp_path / "model")


@pytest.mark.parametrize("damage, message", [row[1:] for row in MODEL_FOLDERS], ids=[row[0] for row in MODEL_FOLDERS])
def test_hostile_or_corrupt_model_folders(folder, tmp_path, capsys, damage, message):
    damage(folder)
    with pytest.raises(ModelLoadError, match=message):
        SRNAMPipeline.from_pretrained(folder)
    face = tmp_path / "face.png"
    Image.effect_noise((24, 24), 60).convert("RGB").save(face)
    for command in (["upscale", str(face), "--out", str(tmp_path / "out")], ["quickstart", "--out", str(tmp_path)]):
        assert cli_main([*command, "--model", str(folder), "-n", "1"]) == 2
        printed = capsys.readouterr()  # one line on stderr, as argparse's own errors; nothing on stdout
        assert printed.err.startswith(f"srnam {command[0]}: error: ") and len(printed.err.splitlines()) == 1
        assert printed.out == "" and "Traceback" not in printed.err


def test_a_search_that_diverges_fails_that_input_and_no_json_has_nan(pipe, tmp_path, capsys, monkeypatch):
    broken = SRNAMPipeline(*make_tiny_models(), device="cpu")
    with torch.no_grad():  # broken after loading (the loader refuses such weights)
        broken.generator.to_rgb[-1].weight.fill_(float("nan"))
    with pytest.raises(SearchDivergedError, match="loss became NaN or infinite at step 1.*smaller learning rate"):
        broken(np.zeros((16, 16, 3), np.uint8), num_candidates=2, num_steps=3)
    with pytest.raises(ValueError, match=r"learning_rate must be a number in \(0, 100\]"):
        pipe(np.zeros((16, 16, 3), np.uint8), num_steps=1, learning_rate=1e300)

    # the CLI reports that input as failed (exit 1), and writes no result for it
    from srnam.commands import upscale

    monkeypatch.setattr(upscale.SRNAMPipeline, "from_pretrained", staticmethod(lambda *a, **k: broken))
    face = tmp_path / "face.png"
    Image.effect_noise((24, 24), 60).convert("RGB").save(face)
    assert cli_main(["upscale", str(face), "--out", str(tmp_path / "out"), "-k", "2", "-n", "2"]) == 1
    assert "face.png: the search diverged" in capsys.readouterr().out
    assert not list((tmp_path / "out").rglob("result.json"))


def test_json_files_are_strict_json():
    from srnam.jsonfile import dumps

    text = dumps({"psnr": float("inf"), "rows": [1.5, float("nan")], "pair": (1, 2)})
    assert json.loads(text) == {"psnr": None, "rows": [1.5, None], "pair": [1, 2]}
    assert "NaN" not in text and "Infinity" not in text
