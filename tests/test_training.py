"""Trainers on tiny configs and a handful of random images: a few steps each, CPU only."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from srnam import SRNAMPipeline
from srnam.training.degradation import DEGRADATION_CONFIGS
from srnam.training.degradation import train as train_degradation
from srnam.training.progan import PROGAN_CONFIGS, Schedule
from srnam.training.progan import train as train_progan
from srnam.training.run import NonFiniteLossError

ROOT = Path(__file__).resolve().parents[1]
TINY_PROGAN = PROGAN_CONFIGS["tiny"]  # 8 images × 1 epoch per stage, batch 4 → 10 steps
TINY_DEGRADATION = DEGRADATION_CONFIGS["tiny"]  # 6 generator steps


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for name, size, count in (("hr", 64, 8), ("lr", 16, 8)):
        (root / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / name / f"{i:03d}.png")
    np.save(root / "hr" / "latents.npy", rng.standard_normal((8, 32)).astype(np.float32))
    return root


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _weights(path):
    return load_file(path)


def test_schedule_grows_and_fades():
    schedule = Schedule(TINY_PROGAN, num_images=8)
    assert schedule.total_images == 40
    assert schedule.at(0) == (0, 1.0, 4)
    assert schedule.at(8) == (1, 0.0, 4) and schedule.at(10) == (1, 0.5, 4) and schedule.at(12) == (1, 1.0, 4)
    assert schedule.at(39)[0] == 4


def test_progan_trains_exports_and_loads(data, tmp_path):
    config = dataclasses.replace(TINY_PROGAN, distill_weight=1.0)
    run = train_progan(data / "hr", tmp_path / "run", config)
    metrics = _metrics(tmp_path / "run")
    assert [m["step"] for m in metrics] == list(range(1, 11))
    assert [m["resolution"] for m in metrics] == [4, 4, 8, 8, 16, 16, 32, 32, 64, 64]
    assert [m["alpha"] for m in metrics][2:4] == [0.0, 1.0]  # fade-in over the first half of the stage
    assert all(np.isfinite([m["loss_d"], m["loss_g"], m["distill"]]).all() for m in metrics)
    assert metrics[-1]["rank_images"] == [40] and metrics[-1]["img_s"] > 0
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())[-1] == "step-0000008.png"
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-0000008", "step-0000010"]
    generator = SRNAMPipeline.from_pretrained  # the export is in the pipeline's model layout
    from srnam.models import ProGANGenerator
    g = ProGANGenerator.from_folder(tmp_path / "run" / "export" / "generator")
    assert g(torch.randn(2, 32)).shape == (2, 3, 64, 64)
    assert run.state.stage == 4 and run.state.alpha == 1.0 and run.state.images_seen == 40
    assert generator is not None


def test_progan_resume_matches_uninterrupted_run(data, tmp_path):
    config = dataclasses.replace(TINY_PROGAN, stage_epochs=(1, 2, 1, 1, 1))  # stage 1 fades in over 2 steps
    full = train_progan(data / "hr", tmp_path / "full", config)
    first = train_progan(data / "hr", tmp_path / "split", config, max_steps=4)  # stops mid-fade of stage 1
    assert first.state.step == 4 and first.state.stage == 1 and first.state.alpha == 0.5
    resumed = train_progan(data / "hr", tmp_path / "split", config, resume=True)
    assert (resumed.state.step, resumed.state.images_seen, resumed.state.stage, resumed.state.alpha) == \
        (full.state.step, full.state.images_seen, full.state.stage, full.state.alpha)
    a = _weights(tmp_path / "full" / "export" / "generator" / "model.safetensors")
    b = _weights(tmp_path / "split" / "export" / "generator" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [m["step"] for m in _metrics(tmp_path / "split")] == list(range(1, 13))  # no duplicated lines
    losses = lambda d: [m["loss_d"] for m in _metrics(d)]  # noqa: E731
    assert losses(tmp_path / "split") == losses(tmp_path / "full")


def test_non_finite_loss_stops_and_keeps_last_checkpoint(data, tmp_path):
    train_progan(data / "hr", tmp_path / "run", TINY_PROGAN, max_steps=4)
    broken = dataclasses.replace(TINY_PROGAN, gp_lambda=float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 4.*step-0000004.*--resume"):
        train_progan(data / "hr", tmp_path / "run", broken, resume=True)
    resumed = train_progan(data / "hr", tmp_path / "run", TINY_PROGAN, resume=True)
    assert resumed.state.step == 10


def test_degradation_trains_resumes_and_exports(data, tmp_path):
    with pytest.warns(UserWarning, match="VGG-19 ImageNet weights are not available"):
        full = train_degradation(data / "hr", data / "lr", tmp_path / "full", TINY_DEGRADATION)
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert config["delta"] == 0.0  # said so, and ran without the perceptual term
    metrics = _metrics(tmp_path / "full")
    assert len(metrics) == 6 and all(np.isfinite(m["loss_c"]) and np.isfinite(m["l1"]) for m in metrics)
    assert (tmp_path / "full" / "samples" / "step-0000006.png").is_file()

    with pytest.warns(UserWarning):
        train_degradation(data / "hr", data / "lr", tmp_path / "split", TINY_DEGRADATION, max_steps=2)
        resumed = train_degradation(data / "hr", data / "lr", tmp_path / "split", TINY_DEGRADATION, resume=True)
    assert resumed.state.step == full.state.step == 6
    a = _weights(tmp_path / "full" / "export" / "degradation" / "model.safetensors")
    b = _weights(tmp_path / "split" / "export" / "degradation" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_vgg_weights_file_must_match(tmp_path):
    from safetensors.torch import save_file

    from srnam.training.losses import load_vgg_loss

    save_file({"nonsense": torch.zeros(2)}, tmp_path / "vgg.safetensors")
    with pytest.raises(RuntimeError, match="Missing key"):
        load_vgg_loss(tmp_path / "vgg.safetensors")


def test_pixel_loss_falls(data, tmp_path):
    """The degradation generator learns: L1 between up(D(hr)) and hr falls over a short run."""
    config = dataclasses.replace(TINY_DEGRADATION, num_steps=30, beta=0.0, lr=3e-3, log_every=1,
                                 sample_every=100, checkpoint_every=100)
    with pytest.warns(UserWarning):
        train_degradation(data / "hr", data / "lr", tmp_path / "run", config)
    l1 = [m["l1"] for m in _metrics(tmp_path / "run")]
    assert np.mean(l1[-5:]) < 0.9 * np.mean(l1[:5]), l1


def test_publish_assembles_a_loadable_pipeline(data, tmp_path, hub):
    train_progan(data / "hr", tmp_path / "g", TINY_PROGAN)
    with pytest.warns(UserWarning):
        train_degradation(data / "hr", data / "lr", tmp_path / "d",
                          dataclasses.replace(TINY_DEGRADATION, noise_size=8))
    repo = "tester/published-tiny"
    result = subprocess.run(
        [sys.executable, str(ROOT / "train" / "publish.py"), str(tmp_path / "g"), str(tmp_path / "d"),
         "--out", str(tmp_path / "pipe"), "--training-data", "Eight noise images.", "--push", repo],
        capture_output=True, text=True, env=os.environ, timeout=300)
    assert result.returncode == 0, result.stderr
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert "Eight noise images." in card and "10 steps, 40 images seen" in card and "samples.png" in card
    assert Image.open(tmp_path / "pipe" / "samples.png").size == (256, 256)
    pipe = SRNAMPipeline.from_pretrained(repo, cache_dir=tmp_path / "cache")
    assert len(pipe(Image.new("RGB", (16, 16)), num_candidates=2, num_steps=2, seed=0).hr_candidates) == 2


def test_two_process_run(data, tmp_path):
    """ACCELERATE_USE_CPU + --multi_gpu gives a real 2-process gloo run (--cpu alone runs one process)."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
           str(ROOT / "train" / "train_progan.py"), str(data / "hr"), "--out", str(tmp_path / "run"),
           "--config", "tiny"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = _metrics(tmp_path / "run")
    assert [m["step"] for m in metrics] == list(range(1, 11))  # written once, by the main process
    assert metrics[-1]["rank_images"] == [20, 20]  # both ranks took half of every batch
    assert len(list((tmp_path / "run" / "export").glob("generator/model.safetensors"))) == 1
