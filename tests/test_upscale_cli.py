"""`srnam upscale`, `srnam push` and `srnam info`, on tiny models (random weights) and a few steps."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_models
from PIL import Image

from srnam import SRNAMPipeline
from srnam.seeds import image_seed
from srnam.commands import common, main

FAST = ["-k", "2", "-n", "3"]
GOOD = ["a/face.png", "b/face.png", "b/c/face.jpg"]  # 24 px (as-is), 48 px and 40 px crops (degrade, no detection)
BAD = {  # name → the reason printed for it
    "b/not_an_image.png": "not an image file PIL can read",
    "b/one_pixel.png": "image too small (1×1)",
    "b/c/truncated.jpg": "truncated or corrupt image",
    "b/c/photo.png": "no face found",  # a 200 px photo with no face, in the default photo mode
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    SRNAMPipeline(*make_tiny_models(), device="cpu").save_pretrained(folder, training_data="Tiny test faces.")
    return str(folder)


def _noise(path: Path, side: int, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.effect_noise((side, side), 60).convert("RGB").save(path, fmt)


@pytest.fixture
def inputs(tmp_path):
    root = tmp_path / "in"
    for name, side in zip(GOOD, (24, 48, 40)):
        _noise(root / name, side)
    (root / "b/not_an_image.png").write_text("hello")
    Image.new("RGB", (1, 1)).save(root / "b/one_pixel.png")
    _noise(root / "full.jpg", 100)
    (root / "b/c/truncated.jpg").write_bytes((root / "full.jpg").read_bytes()[:600])
    (root / "full.jpg").unlink()
    _noise(root / "b/c/photo.png", 200)
    (root / "notes.txt").write_text("not an image suffix: ignored in folders")
    _noise(root / ".hidden.png", 24)  # hidden files (e.g. macOS ._face.png) are ignored in folders
    return root


def _upscale(model, out, *args):
    return main(["upscale", *map(str, args), "--model", model, "--out", str(out), *FAST])


def _result(out: Path, folder: str) -> dict:
    return json.loads((out / folder / "result.json").read_text())


def test_folder_with_good_and_bad_files(model, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _upscale(model, out, inputs, "--seed", "7") == 1  # some inputs failed
    printed = capsys.readouterr().out
    assert "7 inputs: 3 done, 0 skipped" in printed and "4 failed" in printed
    for name, reason in BAD.items():
        assert f"  {name}: {reason}" in printed
    assert "notes.txt" not in printed and "hidden" not in printed

    # one folder per image, mirroring the input paths; nothing for the failed ones
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("result.json"))
    assert written == ["a/face_png/result.json", "b/c/face_jpg/result.json", "b/face_png/result.json"]
    small, crop = _result(out, "a/face_png"), _result(out, "b/face_png")
    assert small["name"] == "a/face.png" and small["lr_mode"] == "as-is" and crop["lr_mode"] == "degrade"
    assert small["seed"] == image_seed(7, "a/face.png") and small["settings"]["base_seed"] == 7
    assert small["settings"] | {"model": None} == {
        "model": None, "num_candidates": 2, "num_steps": 3, "learning_rate": 0.4, "latent_space": "z",
        "latent_constraint": "sphere", "lr_mode": "auto", "base_seed": 7, "allow_no_face": False}
    assert [c["hr"] for c in small["candidates"]] == ["candidate_01.png", "candidate_02.png"]
    l1 = [c["lr_l1"] for c in small["candidates"]]
    assert l1 == sorted(l1) and all(0 < c["lr_psnr_db"] < 100 for c in small["candidates"])
    assert "reference.png" not in small["files"] and "reference.png" in crop["files"]
    assert small["seconds"]["total"] >= small["seconds"]["search"] > 0
    assert Image.open(out / "a/face_png/candidate_01.png").size == (64, 64)
    assert Image.open(out / "a/face_png/projection_02.png").size == (16, 16)
    grid_without, grid_with = (Image.open(out / f / "grid.png").width for f in ("a/face_png", "b/face_png"))
    assert grid_with - grid_without == 132  # the reference crop's column

    # a second run skips what is done (and still reports the failures); --overwrite redoes it
    stamp = (out / "a/face_png/result.json").stat().st_mtime_ns
    assert _upscale(model, out, inputs, "--seed", "7") == 1
    assert "3 skipped" in capsys.readouterr().out
    assert (out / "a/face_png/result.json").stat().st_mtime_ns == stamp
    (out / "b/face_png/grid.png").unlink()  # an incomplete result is redone
    assert _upscale(model, out, inputs / "a", inputs / "b/face.png", "--seed", "7", "--overwrite") == 0
    assert "2 inputs: 2 done, 0 skipped" in capsys.readouterr().out
    assert (out / "a/face_png/result.json").stat().st_mtime_ns != stamp
    assert _result(out, "a/face_png")["candidates"] == small["candidates"]  # same seed, same result


def test_globs_recursive_folders_and_name_collisions(model, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    # a quoted glob (expanded by srnam, not the shell) plus an explicit file with the same name elsewhere
    assert _upscale(model, out, inputs / "**" / "face.png", inputs / "b/c/face.jpg") == 0
    assert "3 inputs: 3 done" in capsys.readouterr().out
    assert sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("result.json")) == [
        "a/face_png", "b/c/face_jpg", "b/face_png"]
    assert isinstance(_result(out, "a/face_png")["seed"], int)  # no --seed: drawn and recorded

    # an output folder inside the input folder is never read back as input
    inside = inputs / "a" / "results"
    assert _upscale(model, inside, inputs / "a") == 0
    assert _upscale(model, inside, inputs / "a") == 0
    assert "1 inputs: 0 done, 1 skipped" in capsys.readouterr().out


def test_no_face_is_a_failure_unless_allowed(model, inputs, tmp_path, capsys):
    photo = inputs / "b/c/photo.png"
    assert _upscale(model, tmp_path / "out", photo, "--lr-mode", "area") == 1
    assert _upscale(model, tmp_path / "out", photo, "--lr-mode", "downsample", "--allow-no-face") == 0
    assert "no face found, centre square used (1): photo.png" in capsys.readouterr().out
    result = _result(tmp_path / "out", "photo_png")
    # "downsample", the old spelling of "area", is recorded as area
    assert result["face_found"] is False and result["lr_mode"] == "area" and result["aligned"] is False


def test_a_face_photo_is_searched_aligned_and_says_so(model, tmp_path):
    portrait = Path(__file__).parent / "data" / "faces" / "dev_00000.jpg"
    photo = tmp_path / "in" / "portrait.png"
    photo.parent.mkdir()
    Image.open(portrait).convert("RGB").resize((256, 256)).rotate(20, fillcolor=(90, 120, 150)).save(photo)
    assert _upscale(model, tmp_path / "out", photo, "--lr-mode", "downsample") == 0
    result = _result(tmp_path / "out", "portrait_png")
    assert result["face_found"] is True and result["aligned"] is True
    assert abs(result["framing"]["angle_degrees"] - 20) < 5 and len(result["framing"]["corners"]) == 4


def test_usage_errors(model, inputs, tmp_path, capsys, monkeypatch):
    assert _upscale(model, tmp_path / "out", tmp_path / "nothing*.png", inputs / "a") == 2
    assert "no image files found for: " + str(tmp_path / "nothing*.png") in capsys.readouterr().err
    assert _upscale(str(tmp_path / "no-model"), tmp_path / "out", inputs / "a") == 2
    assert "srnam upscale: error: " + repr(str(tmp_path / "no-model")) in capsys.readouterr().err
    monkeypatch.setattr(common, "DEFAULT_CHECKPOINT", tmp_path / "checkpoints" / "default")
    assert main(["upscale", str(inputs / "a"), "--out", str(tmp_path / "out")]) == 2
    assert "pass --model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["upscale", str(inputs / "a"), "-k", "0"])
    assert exit_.value.code == 2 and "must be between 1 and 64" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["upscale", "push", "info"])
def test_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "example" in capsys.readouterr().out


def test_two_processes_split_the_work(model, inputs, tmp_path, capsys):
    """accelerate launch with 2 CPU processes: every image done exactly once, by one of the two processes,
    with the same pixels as one process gives (the seeds depend on the names only)."""
    out = tmp_path / "out"
    launcher = Path(sys.executable).parent / "accelerate"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    command = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
               "-m", "srnam", "upscale", str(inputs / "a"), str(inputs / "b"), "--model", model,
               "--out", str(out), "--seed", "3", *FAST]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout  # the failed inputs make the command fail on every process
    # the summary is gathered from both processes and printed once; 3 + 4 = 7 records means no duplicates
    assert result.stdout.count("inputs across 2 processes") == 1, result.stdout + result.stderr
    assert "7 inputs across 2 processes: 3 done, 0 skipped" in result.stdout
    processes = {_result(out, folder)["process"]["index"] for folder in ("a/face_png", "b/face_png", "b/c/face_jpg")}
    assert processes == {0, 1}

    single = tmp_path / "single"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each launched process (OMP_NUM_THREADS=1): oneDNN then sums in the same order
    try:
        _upscale(model, single, inputs / "a", inputs / "b", "--seed", "3")
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    for folder in ("a/face_png", "b/face_png", "b/c/face_jpg"):
        assert (out / folder / "candidate_01.png").read_bytes() == (single / folder / "candidate_01.png").read_bytes()


def test_push_then_info(hub, model, tmp_path, capsys):
    repo_id = f"tester/cli-{uuid.uuid4().hex[:8]}"
    assert main(["push", model, repo_id, "--message", "first upload"]) == 0
    assert repo_id in capsys.readouterr().out
    assert main(["info", repo_id]) == 0
    printed = capsys.readouterr().out
    assert "generator/  ProGANGenerator" in printed and "degradation/  DegradationGenerator" in printed
    params = sum(p.numel() for p in SRNAMPipeline.from_pretrained(model).generator.parameters())
    assert f"{params:,} parameters" in printed and "latent_size: 32" in printed
    assert "several plausible answers" in printed and "Training data:\nTiny test faces." in printed

    # a folder without a model card gets one; a folder that does not load is not pushed
    bare = tmp_path / "bare"
    SRNAMPipeline(*make_tiny_models(), device="cpu").save_pretrained(bare)
    (bare / "README.md").unlink()
    assert main(["push", str(bare), repo_id]) == 0
    assert "no model card" in capsys.readouterr().out
    assert main(["info", repo_id]) == 0
    assert "Not recorded for this pipeline" in capsys.readouterr().out
    (bare / "generator" / "model.safetensors").write_bytes(b"broken")
    broken_repo = f"tester/broken-{uuid.uuid4().hex[:8]}"
    assert main(["push", str(bare), broken_repo]) == 2
    assert "does not load" in capsys.readouterr().err
    assert not any(broken_repo in path for _, path in hub.requests)


def test_info_on_a_local_folder_and_errors(model, tmp_path, capsys):
    assert main(["info", model]) == 0
    printed = capsys.readouterr().out
    assert "ProGANGenerator" in printed and "Tiny test faces." in printed and "---" not in printed
    assert main(["info", str(tmp_path)]) == 2
    assert "has no generator/ folder" in capsys.readouterr().err
    assert main(["push", str(tmp_path / "missing"), "tester/x"]) == 2


def test_a_rerun_after_a_killed_run_leaves_only_its_own_files(model, tmp_path, capsys):
    face = tmp_path / "in" / "face.png"
    _noise(face, 24)
    out = tmp_path / "out"
    assert main(["upscale", str(face), "--model", model, "--out", str(out), "-k", "4", "-n", "2"]) == 0
    folder = out / "face_png"
    (folder / "result.json").unlink()  # killed after writing the images, before result.json
    (folder / "result.json.tmp").write_text("{")
    (folder / "notes.md").write_text("the user's own file")  # not ours: kept
    assert main(["upscale", str(face), "--model", model, "--out", str(out), "-k", "2", "-n", "2"]) == 0
    listed = json.loads((folder / "result.json").read_text())["files"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(listed + ["result.json", "notes.md"])
    assert "candidate_03.png" not in listed and not (folder / "candidate_03.png").exists()
    capsys.readouterr()


CROWD = Path(__file__).resolve().parents[1] / "demo" / "examples" / "photos" / "crowd.jpg"


def test_all_faces_writes_the_composed_photo_a_folder_per_face_and_the_maps(model, tmp_path, capsys):
    from srnam.faces.detect import detect_faces

    faces = len(detect_faces(Image.open(CROWD)))
    out = tmp_path / "out"
    assert _upscale(model, out, CROWD, "--all-faces", "--scale", "2", "--seed", "1") == 0
    result = _result(out, "crowd_jpg")
    assert result["faces_found"] == faces == len(result["faces"]) and result["scale"] == 2
    assert result["composed_size"] == [2 * v for v in Image.open(CROWD).size] == list(
        Image.open(out / "crowd_jpg" / "composed.png").size)
    first = result["faces"][0]
    assert first["folder"] == "face_01" and len(first["candidates"]) == 2 and 0 <= first["mean_uncertainty"] <= 1
    assert first["aligned"] is True and len(first["framing"]["corners"]) == 4 and first["framing"]["side"] > 10
    assert {"composed.png", "faces.png", "face_01/uncertainty.png", "face_01/candidate_02.png",
            "face_01/projection_01.png", "face_01/lr_input.png", "face_01/grid.png"} <= set(result["files"])
    assert all((out / "crowd_jpg" / name).is_file() for name in result["files"])
    assert Image.open(out / "crowd_jpg" / "face_01" / "uncertainty.png").size == (64, 64)
    # the same seed again: skipped; with --overwrite and --max-faces 2, the extra face folders are removed
    assert _upscale(model, out, CROWD, "--all-faces", "--scale", "2", "--seed", "1") == 0
    assert "1 skipped" in capsys.readouterr().out
    assert _upscale(model, out, CROWD, "--all-faces", "--scale", "2", "--seed", "1", "--max-faces", "2",
                    "--overwrite") == 0
    left_out = f"{faces} faces were found; the 2 largest were searched"
    assert f"left out of the search (--max-faces, --min-face):\n  crowd.jpg: {left_out}" in capsys.readouterr().out
    result = _result(out, "crowd_jpg")
    assert len(result["faces"]) == result["faces_searched"] == 2 and result["faces_found"] == faces
    assert result["limits_applied"] == [left_out]
    assert sorted(p.name for p in (out / "crowd_jpg").glob("face_*")) == ["face_01", "face_02"]


def test_all_faces_without_a_face_fails_unless_allowed_and_refuses_as_is(model, tmp_path, capsys):
    wall = tmp_path / "in" / "wall.png"
    wall.parent.mkdir()
    Image.new("RGB", (90, 60), (90, 120, 150)).save(wall)
    assert _upscale(model, tmp_path / "out", wall, "--all-faces") == 1
    assert "wall.png: no face found (faces of 12 px and more were looked for" in capsys.readouterr().out
    assert _upscale(model, tmp_path / "out", wall, "--all-faces", "--allow-no-face", "--scale", "3") == 0
    result = _result(tmp_path / "out", "wall_png")
    assert result["faces"] == [] and result["composed_size"] == [270, 180]
    assert _upscale(model, tmp_path / "out", wall, "--all-faces", "--lr-mode", "as-is") == 2
    assert "--lr-mode as-is does not apply" in capsys.readouterr().err


def test_keep_faces_leaves_those_faces_as_the_photo_has_them(model, tmp_path, capsys):
    out = tmp_path / "out"
    assert _upscale(model, out, CROWD, "--all-faces", "--scale", "1", "--seed", "2", "--max-faces", "3") == 0
    replaced = np.asarray(Image.open(out / "crowd_jpg" / "composed.png"), np.int16)
    assert _upscale(model, out, CROWD, "--all-faces", "--scale", "1", "--seed", "2", "--max-faces", "3",
                    "--keep-faces", "3,1,9", "--overwrite") == 0
    assert "--keep-faces: no such face (faces.png numbers the faces searched):\n  crowd.jpg: 9 (it has 3)" in \
        capsys.readouterr().out
    result = _result(out, "crowd_jpg")
    assert result["kept_faces"] == [1, 3] and result["settings"]["keep_faces"] == [1, 3, 9]
    assert [face["chosen_candidate"] for face in result["faces"]] == [None, 1, None]
    assert (out / "crowd_jpg" / "face_03" / "candidate_02.png").is_file()  # still searched and written
    kept = np.asarray(Image.open(out / "crowd_jpg" / "composed.png"), np.int16)
    photo = np.asarray(Image.open(CROWD).convert("RGB"), np.int16)
    changed_before = np.abs(replaced - photo).max(axis=2) > 0
    changed_now = np.abs(kept - photo).max(axis=2) > 0
    assert changed_now.sum() < changed_before.sum() and not (changed_now & ~changed_before).any()
    assert changed_now.any()  # face 2's candidate is still in
    assert _upscale(model, out, CROWD, "--keep-faces", "1") == 2
    assert "--keep-faces chooses among the faces of a photo: it needs --all-faces" in capsys.readouterr().err
    for bad, message in (("0", "faces are numbered from 1"), ("2,x", "comma-separated (got '2,x')")):
        with pytest.raises(SystemExit):
            _upscale(model, out, CROWD, "--all-faces", "--keep-faces", bad)
        assert message in capsys.readouterr().err
