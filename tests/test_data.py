"""Training data: the LR degradation chain, image folders, face framing and train/prepare_data.py."""
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srnam.faces import detect, framing
from srnam.training.data import ImageFolderDataset, RealisticDegradation, load_image_folder

FACES = sorted((Path(__file__).parent / "data" / "faces").glob("*.jpg"))  # 128×128 corpus-framed faces
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "train"))  # the scripts, importable by name (also in spawned workers)
import prepare_data  # noqa: E402
from srnam.faces.framing import iou  # noqa: E402


def _face(index=0):
    with Image.open(FACES[index]) as image:
        return image.convert("RGB")


# ------------------------------------------------------------------------------------------ degradation

def test_degradation_gives_small_rgb():
    hr = _face().resize((64, 64))
    assert all(RealisticDegradation()(hr, random.Random(seed)).size == (16, 16) for seed in range(5))
    lr = RealisticDegradation(lr_size=8)(hr, random.Random(0))
    assert lr.mode == "RGB" and lr.size == (8, 8)


def test_degradation_is_reproducible_and_varies():
    hr, degrade = _face(1).resize((64, 64)), RealisticDegradation()
    first = [degrade(hr, random.Random(seed)).tobytes() for seed in range(8)]
    assert first == [degrade(hr, random.Random(seed)).tobytes() for seed in range(8)]
    assert len(set(first)) == 8


def test_degradation_without_random_steps_is_a_plain_resize():
    """All probabilities 0: only the sampled kernel is left, so each step's switch is honoured."""
    hr = _face(2).resize((64, 64))
    plain = RealisticDegradation(blur_prob=0, two_stage_prob=0, gaussian_noise_prob=0, poisson_noise_prob=0,
                                 colour_prob=0, jpeg_prob=0)
    params = plain.sample(random.Random(3), 64)
    expected = hr.resize((16, 16), Image.Resampling[params["kernels"][0].upper()])
    assert plain.apply(hr, params).tobytes() == expected.tobytes()
    full = RealisticDegradation(blur_prob=1, two_stage_prob=1, gaussian_noise_prob=1, poisson_noise_prob=1,
                                colour_prob=1, jpeg_prob=1)
    params = full.sample(random.Random(3), 64)
    assert None not in params.values() and len(params["kernels"]) == 2
    assert full.apply(hr, params).size == (16, 16)


# ------------------------------------------------------------------------------------------ folders

@pytest.fixture
def folder(tmp_path):
    """b.png 32×32 green, a.png 64×64 red, c.png 40×30 blue, a broken d.png, and files that are not images."""
    Image.new("RGB", (64, 64), (255, 0, 0)).save(tmp_path / "a.png")
    Image.new("RGB", (32, 32), (0, 255, 0)).save(tmp_path / "b.png")
    Image.new("RGB", (40, 30), (0, 0, 255)).save(tmp_path / "c.png")
    (tmp_path / "d.png").write_bytes(b"not really a png")
    (tmp_path / "notes.txt").write_text("ignored")
    np.save(tmp_path / "latents.npy", np.zeros((1, 1)))  # ignored too: not an image extension
    return tmp_path


def test_load_image_folder_sorted_resized_and_skipping(folder):
    with pytest.warns(UserWarning, match="d.png"):
        images = load_image_folder(folder, 16)
    assert images.dtype == torch.uint8 and images.shape == (3, 3, 16, 16)  # [N, C, H, W]
    assert images[:, :, 8, 8].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_dataset_range_and_latents_alignment(folder):
    table = np.arange(4 * 5, dtype=np.float32).reshape(4, 5)  # a row per image file a, b, c, d
    np.save(folder / "z.npy", table)
    with pytest.warns(UserWarning):
        plain = ImageFolderDataset(folder, 8)
    with pytest.warns(UserWarning):
        paired = ImageFolderDataset(folder, 8, latents=folder / "z.npy")
    assert [p.name for p in paired.files] == ["a.png", "b.png", "c.png"] and len(paired) == 3
    image = plain[0]
    assert image.dtype == torch.float32 and image.shape == (3, 8, 8)
    assert image.min() == -1 and image.max() == 1 and image[0, 0, 0] == 1  # red
    image, z = paired[2]
    assert torch.equal(z, torch.from_numpy(table[2]))  # c.png's row; d.png's row is dropped with it

    np.save(folder / "z.npy", table[:3])
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"one row per image file.*\[3, 5\]"):
        ImageFolderDataset(folder, 8, latents=folder / "z.npy")


# ------------------------------------------------------------------------------------------ faces

@pytest.mark.parametrize("path", FACES, ids=lambda p: p.name)
def test_face_framing_matches_the_corpus_box(path):
    image = _face(FACES.index(path))
    assert detect.detect_face(image) is not None
    box, found = detect.face_crop_box(image)
    assert found and iou(box, framing.CORPUS_BOX) > 0.7
    crop, found = detect.crop_face(image)
    reference = np.asarray(framing.crop_corpus(image), dtype=np.float32)
    assert found and crop.size == (64, 64)
    assert np.abs(np.asarray(crop, dtype=np.float32) - reference).mean() < 40  # same face, a few pixels off


def test_face_framing_in_a_large_off_centre_photo():
    """Scaled ×3 into a landscape frame, off centre: the framing scales and moves with the face."""
    canvas = Image.new("RGB", (900, 500), (90, 110, 130))
    canvas.paste(_face().resize((384, 384), Image.Resampling.LANCZOS), (480, 60))
    box, found = detect.face_crop_box(canvas)
    expected = [480 + 3 * framing.CORPUS_BOX[0], 60 + 3 * framing.CORPUS_BOX[1],
                480 + 3 * framing.CORPUS_BOX[2], 60 + 3 * framing.CORPUS_BOX[3]]
    assert found and iou(box, expected) > 0.7


def test_no_face_gives_a_centre_crop():
    ramp = np.tile(np.linspace(0, 255, 90, dtype=np.uint8)[None, :, None], (60, 1, 3))  # [60, 90, 3]
    image = Image.fromarray(ramp)
    crop, found = detect.crop_face(image, size=32)
    assert not found
    assert crop.tobytes() == image.crop((15, 0, 75, 60)).resize((32, 32), Image.Resampling.LANCZOS).tobytes()
    assert detect.detect_face(Image.new("RGB", (128, 128), (128, 128, 128))) is None


def test_crop_past_the_border_is_reflection_padded():
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)  # [H, W, 3]
    crop = framing.crop_padded(Image.fromarray(pixels), (-4, 10, 26, 40))  # 4 px left, 20 px below
    expected = np.pad(pixels, ((0, 20), (4, 0), (0, 0)), mode="reflect")[10:40, 0:30]
    assert crop.size == (30, 30) and np.array_equal(np.asarray(crop), expected)


# ------------------------------------------------------------------------------------------ prepare_data

@pytest.fixture
def photos(tmp_path):
    """Three faces and their mirror images, a blank image, a 1×1 image and a text file."""
    src = tmp_path / "photos"
    src.mkdir()
    for i, path in enumerate(FACES):
        _face(i).save(src / f"face{i}.jpg", quality=95)
        _face(i).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(src / f"mirror{i}.png")
    Image.new("RGB", (128, 128), (128, 128, 128)).save(src / "blank.png")
    Image.new("RGB", (1, 1)).save(src / "dot.png")
    (src / "notes.txt").write_text("not an image")
    return src


def _report(out):
    return json.loads((out / "prepare_report.json").read_text())


@pytest.mark.parametrize("crop", ["face", "corpus"])
def test_prepare_data_end_to_end(photos, tmp_path, crop, capsys):
    sources = sorted(p.name for p in photos.iterdir())  # 9 files
    latents = np.arange(len(sources) * 4, dtype=np.float32).reshape(len(sources), 4)
    np.save(tmp_path / "z.npy", latents)
    out = tmp_path / "out"
    status = prepare_data.main([str(photos), str(out), "--crop", crop, "--latents", str(tmp_path / "z.npy"),
                                "--workers", "2" if crop == "face" else "1"])
    assert status == 0
    report = _report(out)
    reasons = {item["source"]: item["reason"] for item in report["skipped_files"]}
    expected = {"dot.png": "too small", "notes.txt": "not an image"}
    if crop == "face":
        expected["blank.png"] = "no face found"
    assert reasons == expected
    assert f"skipped {len(expected)} files:" in capsys.readouterr().out

    hr = {item["source"]: item["written"] for item in report["files"]["hr"]}
    lr = {item["source"]: item["written"] for item in report["files"]["lr"]}
    assert not set(hr) & set(lr) and set(hr) | set(lr) | set(reasons) == set(sources)
    assert hr and lr and report["written"] == {"hr": len(hr), "lr": len(lr)}
    assert sorted(p.name for p in (out / "hr").glob("*.png")) == sorted(hr.values())
    assert sorted(p.name for p in (out / "lr").glob("*.png")) == sorted(lr.values())
    assert all(Image.open(out / "hr" / name).size == (64, 64) for name in hr.values())
    assert all(Image.open(out / "lr" / name).size == (16, 16) for name in lr.values())

    dataset = ImageFolderDataset(out / "hr", 64, latents=out / "hr" / "latents.npy")
    for (image, z), path in zip(dataset, dataset.files):
        source = next(s for s, written in hr.items() if written == path.name)
        assert torch.equal(z, torch.from_numpy(latents[sources.index(source)]))


def test_prepare_data_fails_when_nothing_is_usable(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.txt").write_text("not an image")
    Image.new("RGB", (1, 1)).save(src / "dot.png")
    assert prepare_data.main([str(src), str(tmp_path / "out"), "--crop", "centre", "--workers", "1"]) == 1
    assert _report(tmp_path / "out")["skipped_by_reason"] == {"not an image": 1, "too small": 1}


def test_prepare_data_rejects_misaligned_latents(photos, tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((3, 4), np.float32))
    with pytest.raises(SystemExit) as exit_info:
        prepare_data.main([str(photos), str(tmp_path / "out"), "--latents", str(tmp_path / "z.npy")])
    assert exit_info.value.code == 2
