"""Trainers on tiny configs and a handful of random images: a few steps each, CPU only."""
import dataclasses
import json
import math
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
from srnam.commands import main as cli_main
from srnam.training.degradation import DEGRADATION_CONFIGS
from srnam.training.degradation import train as train_degradation
from srnam.training.progan import PROGAN_CONFIGS, Schedule
from srnam.training.progan import train as train_progan
from srnam.models import DEGRADATION_CHANNELS, DegradationGenerator, ProGANDiscriminator, ProGANGenerator
from srnam.training.run import EMA, NonFiniteLossError, checkpointed_state

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
    config = dataclasses.replace(TINY_PROGAN, distill_weight=1.0, snapshot_every=5)
    run = train_progan(data / "hr", tmp_path / "run", config)
    metrics = _metrics(tmp_path / "run")
    assert [m["step"] for m in metrics] == list(range(1, 11))
    assert [m["resolution"] for m in metrics] == [4, 4, 8, 8, 16, 16, 32, 32, 64, 64]
    assert [m["alpha"] for m in metrics][2:4] == [0.0, 1.0]  # fade-in over the first half of the stage
    assert all(np.isfinite([m["loss_d"], m["loss_g"], m["distill"]]).all() for m in metrics)
    assert metrics[-1]["rank_images"] == [40] and metrics[-1]["img_s"] > 0
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())[-1] == "step-0000008.png"
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-0000008", "step-0000010"]
    g = ProGANGenerator.from_folder(tmp_path / "run" / "export" / "generator")  # the pipeline's model layout
    assert g(torch.randn(2, 32)).shape == (2, 3, 64, 64)
    assert run.state.stage == 4 and run.state.alpha == 1.0 and run.state.images_seen == 40
    # snapshots only once the last stage is faded in: step 5 (16×16) has none, step 10 (64×64, alpha 1) has one
    snapshot = tmp_path / "run" / "snapshots" / "step-0000010"
    assert sorted(p.name for p in snapshot.parent.iterdir()) == ["step-0000010"]
    assert json.loads((snapshot / "generator_training.json").read_text())["steps"] == 10
    assert _weights(snapshot / "generator" / "model.safetensors").keys() == \
        _weights(tmp_path / "run" / "export" / "generator" / "model.safetensors").keys()


def test_learned_latents_without_a_critic(data, tmp_path):
    config = dataclasses.replace(TINY_PROGAN, distill_weight=1.0, latent_lr=0.05, gan_weight=0.0,
                                 stage_epochs=(1, 1, 1, 1, 10))
    train_progan(data / "hr", tmp_path / "run", config)
    metrics = _metrics(tmp_path / "run")
    assert all(m["loss_d"] == 0.0 and m["gp"] == 0.0 and m["loss_g"] == m["distill"] for m in metrics)
    faded_in = [m["distill"] for m in metrics if m["resolution"] == 64 and m["alpha"] == 1.0]
    assert len(faded_in) == 10 and faded_in[-1] < 0.9 * faded_in[0]  # the paired loss falls at 64×64
    checkpoint = sorted((tmp_path / "run" / "checkpoints").iterdir())[-1]
    state = [checkpointed_state(checkpoint, name) for name in ("critic", "latent_codes")]
    torch.manual_seed(config.seed)  # the trainer's initialisation: generator first, then the critic
    ProGANGenerator(config.latent_size, config.channels)
    untouched = ProGANDiscriminator(config.channels).state_dict()
    assert all(torch.equal(state[0][k], untouched[k]) for k in untouched)  # the critic never trained
    codes, initial = state[1]["codes"], torch.from_numpy(np.load(data / "hr" / "latents.npy"))
    assert torch.allclose(codes.norm(dim=1), torch.full((8,), 32 ** 0.5))  # on the sphere
    moved = (codes - torch.nn.functional.normalize(initial, dim=1) * 32 ** 0.5).norm(dim=1)
    assert (moved > 0.1).all()  # every face's latent was learned


@pytest.mark.parametrize("fields, message", [
    (dict(latent_lr=0.1, distill_weight=0.0), "latent_lr > 0 learns the latents of the paired loss"),
    (dict(gan_weight=0.0, distill_weight=0.0), "leave no loss to train with"),
])
def test_progan_loss_settings_that_cannot_train(data, tmp_path, fields, message):
    with pytest.raises(ValueError, match=message):
        train_progan(data / "hr", tmp_path / "run", dataclasses.replace(TINY_PROGAN, **fields))


def test_ema_warms_up_then_keeps_its_decay():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(model.weight, 0.0)
    ema = EMA(model, beta=0.999)
    torch.nn.init.constant_(model.weight, 1.0)
    ema.update(model, step=0)  # decay min(0.999, 1/10): the average moves 90 % of the way at once
    assert ema.model.weight.item() == pytest.approx(0.9)
    ema.update(model, step=10_000)  # (10001/10010 > 0.999): the configured decay
    assert ema.model.weight.item() == pytest.approx(0.9 + 0.1 * 0.001)
    kept = EMA(torch.nn.Linear(1, 1, bias=False).requires_grad_(False), beta=0.99, warmup=False)  # a warm start
    start = kept.model.weight.item()
    kept.update(model, step=0)  # the configured decay from the first step: the loaded weights are kept
    assert kept.model.weight.item() == pytest.approx(0.99 * start + 0.01)


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


def test_vgg_weights_imagenet_says_why_when_offline_and_a_local_file_trains(data, tmp_path, monkeypatch):
    import urllib.error

    from safetensors.torch import save_file
    from torchvision.models import vgg19

    from srnam.training.losses import VGG_LAYERS, VGGWeightsError, load_vgg_loss

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    import torchvision.models._api

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)  # no network, ever
    with pytest.raises(VGGWeightsError, match=r"cannot download the VGG-19 ImageNet weights .*name resolution.*"
                                              r"--vgg-weights FILE.*--delta 0"):
        load_vgg_loss("imagenet")
    with pytest.raises(VGGWeightsError, match="no such file"):
        load_vgg_loss(tmp_path / "missing.pth")
    # The script itself, offline for certain: every download goes to a closed local port, with no cached weights.
    offline_env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                   "NO_PROXY": "", "no_proxy": "", "TORCH_HOME": str(tmp_path / "torch_home")}
    result = subprocess.run([sys.executable, str(ROOT / "train" / "train_degradation.py"), str(data / "hr"),
                             str(data / "lr"), "--out", str(tmp_path / "x"), "--config", "tiny", "--vgg-weights",
                             "imagenet"], capture_output=True, text=True, env=offline_env, timeout=300)
    assert result.returncode == 2 and "cannot download the VGG-19" in result.stderr, result.stderr[-2000:]

    # a small local file with only the layers the loss uses (random here: a test stand-in for ImageNet's)
    torch.manual_seed(0)
    layers = vgg19().features[:VGG_LAYERS].state_dict()
    save_file({f"features.{k}": v.contiguous() for k, v in layers.items()}, tmp_path / "vgg.safetensors")
    run = train_degradation(data / "hr", data / "lr", tmp_path / "run", TINY_DEGRADATION,
                            vgg_weights=tmp_path / "vgg.safetensors")
    assert run.state.step == 6 and json.loads((tmp_path / "run" / "config.json").read_text())["delta"] == 0.1
    assert all(m["vgg"] > 0 for m in _metrics(tmp_path / "run"))


def test_diversity_term_and_camera_figures(data, tmp_path):
    config = dataclasses.replace(TINY_DEGRADATION, diversity_weight=1.0, diversity_target=8.0)
    with pytest.warns(UserWarning):
        full = train_degradation(data / "hr", data / "lr", tmp_path / "full", config)
        train_degradation(data / "hr", data / "lr", tmp_path / "split", config, max_steps=4)
        train_degradation(data / "hr", data / "lr", tmp_path / "split", config, resume=True)
    records = _metrics(tmp_path / "full")
    assert all(m["diversity"] > 0 and 0 <= m["l_div"] <= 1 for m in records)
    figures = [m for m in records if "camera_fd" in m]
    assert [m["step"] for m in figures] == [3, 6]  # every sample_every steps
    assert all(m[k] >= 0 and np.isfinite(m[k]) for m in figures
               for k in ("camera_fd", "camera_fd_area", "camera_fd_floor", "noise_spread"))
    session = ("wall_s", "img_s", "mem_mb", "rank_images")  # what differs between one session and two
    assert full.state.step == 6 and _metrics(tmp_path / "split") == [
        {**m, **{k: s[k] for k in session}} for m, s in zip(records, _metrics(tmp_path / "split"))]


def test_mode_seeking_loss_spreads_the_photos_of_a_face():
    from srnam.training.degradation import mode_seeking_loss

    torch.manual_seed(0)
    model = DegradationGenerator(noise_size=8, channels=DEGRADATION_CHANNELS["tiny"])
    hr = torch.rand(4, 3, 64, 64) * 2 - 1
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(30):
        fake = model(torch.cat([hr, hr]), torch.randn(8, 8))
        loss, levels = mode_seeking_loss(*fake.chunk(2), target=30.0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        history.append((loss.item(), levels.item()))
    assert history[-1][0] < history[0][0] and history[-1][1] > history[0][1] + 5, history[::10]
    same = torch.zeros(2, 3, 16, 16)
    assert mode_seeking_loss(same, same, 8.0)[0].item() == 1.0  # identical photos: the full penalty
    assert mode_seeking_loss(same, same + 0.1, 8.0)[0].item() == 0.0  # 12.75 levels apart: none


def test_the_low_pass_pixel_term_leaves_blur_and_noise_to_the_critic(data, tmp_path):
    from srnam.training.degradation import pixel_l1, upscale

    hr = torch.rand(2, 3, 64, 64) * 2 - 1
    area = torch.nn.functional.avg_pool2d(hr, 4)  # [2, 3, 16, 16]
    checker = 0.2 * (torch.arange(16)[:, None] + torch.arange(16)[None]).remainder(2).float().mul(2).sub(1)
    noisy = area + checker  # zero mean in every 2×2 block: invisible at 8×8
    blurred = torch.nn.functional.avg_pool2d(area, 3, stride=1, padding=1, count_include_pad=False)
    def score(fake, size):
        return pixel_l1(fake, upscale(fake, 64), hr, size).item()

    assert score(area, 8) < 1e-6 and score(noisy, 8) < 1e-6
    assert score(blurred, 8) < 0.5 * score(blurred, 64)
    assert score(noisy, 64) > score(area, 64)  # the paper's term penalises the noise
    config = dataclasses.replace(DEGRADATION_CONFIGS["tiny"], pixel_size=3)
    with pytest.raises(ValueError, match="pixel_size must be 64 .* or divide the LR size 16, got 3"):
        train_degradation(data / "hr", data / "lr", tmp_path / "run", config)


def test_pixel_loss_falls(data, tmp_path):
    """The degradation generator learns: L1 between up(D(hr)) and hr falls over a short run."""
    config = dataclasses.replace(TINY_DEGRADATION, num_steps=30, beta=0.0, lr=3e-3, log_every=1,
                                 sample_every=100, checkpoint_every=100)
    with pytest.warns(UserWarning):
        train_degradation(data / "hr", data / "lr", tmp_path / "run", config)
    l1 = [m["l1"] for m in _metrics(tmp_path / "run")]
    assert np.mean(l1[-5:]) < 0.9 * np.mean(l1[:5]), l1


def test_selection_criterion_rewards_consistent_realistic_faces():
    from srnam.training import selection as select  # the library's criterion, which the script applies

    def row(lr_psnr, sharpness, fd=None, faceness=0.85, hr_psnr=20.0):
        return {"lr_psnr_mean": lr_psnr, "sharpness_mean": sharpness, "face_fd_mean": fd, "faceness": faceness,
                "hr_psnr_mean": hr_psnr}

    table = {"blurred": row(30.0, 0.2, 0.30, hr_psnr=25.0),  # best PSNR: the mean face, never chosen for it
             "sharp": row(29.5, 0.9, 0.20),
             "realer": row(29.2, 1.2, 0.15),
             "inconsistent": row(27.0, 1.0, 0.05),  # most realistic, but 3 dB off the input
             "broken": row(29.8, 1.0, 0.10, faceness=0.60)}  # few samples are faces any more
    assert select.choose(table) == "realer"
    # a sharp but unrealistic snapshot loses to a smooth realistic one: 0.30 + 0.05 · log(0.7 / 0.2) = 0.36 < 0.40
    assert select.choose({"blurred": table["blurred"], "noisy": row(29.9, 0.9, 0.40)}) == "blurred"
    no_reference = {k: {**v, "face_fd_mean": None} for k, v in table.items()}
    assert select.choose(no_reference) == "sharp"  # in the band, and nearer 1 than 1.2 (|log 0.9| < |log 1.2|)
    assert select.off_band(1.0) == 0.0 and select.off_band(0.35) == pytest.approx(math.log(2))
    # the truth's own fit (26.8 dB here) is consistent enough: then the fit 3 dB below the blurred face's qualifies
    with_truth = {name: {**value, "lr_psnr_ground_truth": 26.8} for name, value in table.items()}
    assert select.choose(with_truth) == "inconsistent"
    below_truth = {**with_truth["inconsistent"], "lr_psnr_mean": 26.7}
    assert select.choose({**with_truth, "inconsistent": below_truth}) == "realer"


def test_select_then_publish_with_examples_and_evaluation(data, tmp_path, hub):
    train_progan(data / "hr", tmp_path / "g", dataclasses.replace(TINY_PROGAN, snapshot_every=5))
    with pytest.warns(UserWarning):
        train_degradation(data / "hr", data / "lr", tmp_path / "d",
                          dataclasses.replace(TINY_DEGRADATION, noise_size=8, snapshot_every=3))
    faces = ROOT / "tests" / "data" / "faces"

    def script(name, *args):
        result = subprocess.run([sys.executable, str(ROOT / "train" / name), *map(str, args)],
                                capture_output=True, text=True, env=os.environ, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result.stdout

    # selection: every snapshot evaluated on held-out faces
    out = script("select_checkpoint.py", tmp_path / "g", tmp_path / "d", faces, "--skip", 1, "--limit", 2,
                 "-k", 2, "-n", 2, "--faceness", 2)
    selection = json.loads((tmp_path / "g" / "selection.json").read_text())
    assert selection["selected"] == "step-0000010" and "selected step-0000010" in out
    assert selection["faces"].endswith("[1:3]") and 0 <= selection["snapshots"]["step-0000010"]["faceness"] <= 1
    again = script("select_checkpoint.py", tmp_path / "g", tmp_path / "d", faces, "--skip", 1, "--limit", 2,
                   "-k", 2, "-n", 2, "--faceness", 2)
    assert "step-0000010 {" in out and "step-0000010 {" not in again  # measured once, kept on a re-run
    assert json.loads((tmp_path / "g" / "selection.json").read_text()) == selection

    # an evaluation folder for the card, made by srnam evaluate
    snapshot = tmp_path / "g" / "snapshots" / "step-0000010" / "generator"
    SRNAMPipeline(ProGANGenerator.from_folder(snapshot), DegradationGenerator.from_folder(
        tmp_path / "d" / "export" / "degradation")).save_pretrained(tmp_path / "pipe0")
    # the generator shipped now, measured beside the snapshots: here the same weights as step 10, the same figures
    out = script("select_checkpoint.py", tmp_path / "g", tmp_path / "d", faces, "--skip", 1, "--limit", 2,
                 "-k", 2, "-n", 2, "--faceness", 2, "--compare-with", tmp_path / "pipe0",
                 "--out", tmp_path / "c.json", "--snapshots", "step-0000010")
    with_current = json.loads((tmp_path / "c.json").read_text())
    assert with_current["snapshots"]["current"] == with_current["snapshots"]["step-0000010"]
    assert with_current["compare_with"] == str(tmp_path / "pipe0" / "generator") and "current {" in out
    wrong = subprocess.run([sys.executable, str(ROOT / "train" / "select_checkpoint.py"), str(tmp_path / "g"),
                            str(tmp_path / "d"), str(faces), "--snapshots", "step-0000007"],
                           capture_output=True, text=True)
    assert wrong.returncode == 1 and "no snapshot step-0000007 in" in wrong.stderr and "step-0000010" in wrong.stderr
    assert cli_main(["evaluate", str(faces), "--model", str(tmp_path / "pipe0"), "-k", "2", "-n", "2",
                     "--faceness", "2", "--out", str(tmp_path / "eval")]) == 0
    assert cli_main(["evaluate", str(faces), "--model", str(tmp_path / "pipe0"), "-k", "2", "-n", "2",
                     "--faceness", "0", "--lr-source", "bicubic", "--out", str(tmp_path / "eval_bicubic")]) == 0

    repo = "tester/published-tiny"
    (tmp_path / "notes.md").write_text("Trained in two slices.")
    (tmp_path / "limits.md").write_text("## Known limitations\n\nNoise in, noise out.")
    script("publish.py", tmp_path / "g", tmp_path / "d", "--snapshot", "step-0000010", "--out", tmp_path / "pipe",
           "--degradation-snapshot", "step-0000003",
           "--training-data", "Eight noise images.", "--notes-file", tmp_path / "notes.md", "--examples", faces,
           "--example-steps", 20, "--evaluation", tmp_path / "eval", "--evaluation", tmp_path / "eval_bicubic",
           "--compare-with", tmp_path / "pipe0", "--section-file", tmp_path / "limits.md", "--push", repo)
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert "Eight noise images." in card and "10 steps, 40 images seen" in card and "snapshots/step-0000010" in card
    assert card.index("## Training") < card.index("Trained in two slices.") < card.index("### generator")
    assert card.index("## Examples") < card.index("## Evaluation") < card.index("## Known limitations") \
        < card.index("## Intended use")
    assert "| SR-NAM K=2, best of K (oracle) |" in card and "Face-ness: a face is found in" in card
    # the degradation snapshot of step 3 ships, with the realism figures logged at its step (not the run's last, 6)
    assert "### degradation (`d`, export `snapshots/step-0000003`)" in card and "3 steps, 36 images seen" in card
    assert "realism of the LR photos at step 3" in card and "for plain area downsampling" in card
    assert Image.open(tmp_path / "pipe" / "samples.png").size == (256, 256)
    degradation_figure = Image.open(tmp_path / "pipe" / "degradation_examples.png")
    search_figure = Image.open(tmp_path / "pipe" / "search_examples.png")
    assert degradation_figure.size == (4 + 7 * 100, 16 + 2 * 100 + 4)  # 2 faces: HR, 5 noise vectors, area ÷4
    assert search_figure.size == (4 + 10 * 100, 16 + 3 * 100 + 4)  # 3 faces: LR, 4 candidates, 4 LR, truth
    summary = json.loads((tmp_path / "pipe" / "evaluation.json").read_text())
    assert "faces" not in summary and summary["settings"]["num_candidates"] == 2
    # the second evaluation keeps its own files; before/after figures: 8 samples in 2 rows, 2 searches stacked
    assert json.loads((tmp_path / "pipe" / "evaluation_bicubic.json").read_text())["settings"]["lr_source"] == "bicubic"
    assert "### Evaluation with LR inputs from `bicubic`" in card and "quality_vs_k_bicubic.png" in card
    assert card.index("## Examples") < card.index("## Before and after") < card.index("## Evaluation")
    assert Image.open(tmp_path / "pipe" / "comparison_samples.png").size == (4 + 8 * 100, 16 + 16 + 2 * 100 + 4)
    assert Image.open(tmp_path / "pipe" / "comparison_search.png").size == (4 + 10 * 100, 2 * (16 + 16 + 3 * 100 + 4))
    pipe = SRNAMPipeline.from_pretrained(repo, cache_dir=tmp_path / "cache")
    assert pipe.model_card == card and "search_examples.png" in pipe.card_assets
    # a new generator beside a published pipeline's camera: its weights, and its card's account of its training
    script("publish.py", tmp_path / "g", tmp_path / "pipe", "--out", tmp_path / "swapped", "--training-data", "x")
    swapped = (tmp_path / "swapped" / "README.md").read_text()
    assert "### degradation (`d`, export `snapshots/step-0000003`)" in swapped and "3 steps, 36 images seen" in swapped
    assert "Kept unchanged from the pipeline `pipe`" in swapped and "realism of the LR photos at step 3" in swapped
    assert swapped.count("Published from ") == 1
    assert (tmp_path / "swapped" / "degradation" / "model.safetensors").read_bytes() == \
        (tmp_path / "pipe" / "degradation" / "model.safetensors").read_bytes()
    refused = subprocess.run([sys.executable, str(ROOT / "train" / "publish.py"), str(tmp_path / "g"),
                              str(tmp_path / "pipe"), "--degradation-snapshot", "step-0000003", "--out",
                              str(tmp_path / "no")], capture_output=True, text=True)
    assert refused.returncode == 1 and "is a pipeline folder, not a run" in refused.stderr
    assert len(pipe(Image.new("RGB", (16, 16)), num_candidates=2, num_steps=2, seed=0).hr_candidates) == 2


def test_degradation_cli_lr_folder_and_learning_rate(data, tmp_path):
    """The LR folder (positional "lr") and the learning rate (--lr) are different arguments."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "train" / "train_degradation.py"), str(data / "hr"), str(data / "lr"),
         "--out", str(tmp_path / "run"), "--config", "tiny", "--lr", "0.0003", "--num-steps", "2"],
        capture_output=True, text=True, env=os.environ, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["lr"] == 0.0003 and config["lr_data"] == str(data / "lr")
    assert (tmp_path / "run" / "export" / "degradation" / "model.safetensors").is_file()


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


class _Killed(BaseException):
    """Stands for a kill -9: nothing after it runs (BaseException, so no `except Exception` catches it)."""


def _kill_during_save(monkeypatch, point, at_step):
    """Make the save of checkpoint ``at_step`` die at ``point``."""
    from accelerate import Accelerator

    import srnam.training.run as run_module

    target = f"step-{at_step:07d}"
    if point == "while writing":
        original = Accelerator.save_state

        def save_state(self, output_dir=None, **kwargs):
            result = original(self, output_dir, **kwargs)
            if Path(output_dir).name == target + ".tmp":
                files = sorted(Path(output_dir).iterdir())
                for f in files[len(files) // 2:]:  # half the files written
                    f.unlink() if f.is_file() else None
                raise _Killed
            return result
        monkeypatch.setattr(Accelerator, "save_state", save_state)
    elif point == "before the rename":
        original = Path.rename

        def rename(self, new):
            if Path(new).name == target:
                raise _Killed
            return original(self, new)
        monkeypatch.setattr(Path, "rename", rename)
    elif point == "while removing an old checkpoint":
        original = run_module.shutil.rmtree

        def rmtree(path, *args, **kwargs):
            files = [f for f in Path(path).rglob("*") if f.is_file()] if Path(path).exists() else []
            if Path(path).name.startswith("step-") and not Path(path).name.endswith((".tmp", ".old")) and files:
                files[0].unlink()  # part of it is gone
                raise _Killed
            return original(path, *args, **kwargs)
        monkeypatch.setattr(run_module.shutil, "rmtree", rmtree)


@pytest.mark.parametrize("point, at_step, resumes_from", [
    ("while writing", 8, 4), ("before the rename", 8, 4), ("while removing an old checkpoint", 12, 12),
])
def test_a_kill_during_a_checkpoint_save_resumes_from_the_last_complete_one(data, tmp_path, monkeypatch, capsys,
                                                                            point, at_step, resumes_from):
    config = dataclasses.replace(TINY_PROGAN, stage_epochs=(1, 2, 1, 1, 1))  # 12 steps, checkpoints every 4
    full = tmp_path / "full"
    train_progan(data / "hr", full, config)
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        _kill_during_save(patch, point, at_step)
        with pytest.raises(_Killed):
            train_progan(data / "hr", run, config)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 9, "ima')  # a log line cut short by the kill
    capsys.readouterr()
    resumed = train_progan(data / "hr", run, config, resume=True)
    out = capsys.readouterr().out
    assert f"resumed from {run / 'checkpoints' / f'step-{resumes_from:07d}'}" in out
    if point != "while removing an old checkpoint":
        assert f"step-{at_step:07d}.tmp: a checkpoint save that did not finish" in out
    assert not list((run / "checkpoints").glob("*.tmp")) and resumed.state.step == 12
    a = _weights(full / "export" / "generator" / "model.safetensors")
    b = _weights(run / "export" / "generator" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [m["step"] for m in _metrics(run)] == list(range(1, 13))


def test_saving_the_same_step_twice_keeps_a_complete_checkpoint(tmp_path):
    from srnam.training.run import TrainingRun

    run = TrainingRun(tmp_path / "run", {})
    model = torch.nn.Linear(2, 2)
    run.register(model=model)
    run.state.step = 5
    first = run.save_checkpoint()
    with torch.no_grad():
        model.weight.fill_(3.0)
    assert run.save_checkpoint() == first  # the same step again (a session that stops where a run ends)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-0000005"]
    model.weight.data.zero_()
    assert run.resume() and torch.all(model.weight == 3.0)


def test_camera_head_warm_starts_from_a_model_without_it_trains_and_resumes(data, tmp_path):
    plain = dataclasses.replace(TINY_DEGRADATION, num_steps=3)
    with pytest.warns(UserWarning):
        train_degradation(data / "hr", data / "lr", tmp_path / "plain", plain)
    start = DegradationGenerator.from_folder(tmp_path / "plain" / "export" / "degradation")
    config = dataclasses.replace(TINY_DEGRADATION, camera_head=True, init_from=str(tmp_path / "plain"))
    with pytest.warns(UserWarning):
        full = train_degradation(data / "hr", data / "lr", tmp_path / "full", config)
        train_degradation(data / "hr", data / "lr", tmp_path / "split", config, max_steps=2)
        train_degradation(data / "hr", data / "lr", tmp_path / "split", config, resume=True)
    assert full.state.step == 6
    a = _weights(tmp_path / "full" / "export" / "degradation" / "model.safetensors")
    b = _weights(tmp_path / "split" / "export" / "degradation" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # resume is exact with the head too
    trained = DegradationGenerator.from_folder(tmp_path / "full" / "export" / "degradation")
    assert trained.camera is not None
    # the head trained: its layers moved from their initialisation (zero weights)
    assert trained.camera.blur.weight.abs().sum() > 0 and trained.camera.amplitude.weight.abs().sum() > 0
    # the warm start began from the plain model: its stem was loaded, then trained 6 steps at lr 1e-4
    assert (trained.stem.weight - start.stem.weight).abs().max() < 6 * 1e-4 * 1.5

    headed = dataclasses.replace(TINY_DEGRADATION, init_from=str(tmp_path / "full"))
    with pytest.raises(ValueError, match="has a camera head: pass --camera-head true"):
        train_degradation(data / "hr", data / "lr", tmp_path / "x", headed)
    wider = dataclasses.replace(config, channels=(8, 8, 8, 8, 8, 16))
    with pytest.raises(ValueError, match=r"has channels \(8, 8, 8, 8, 8, 8\), the config \(8, 8, 8, 8, 8, 16\)"):
        train_degradation(data / "hr", data / "lr", tmp_path / "y", wider)


def test_bool_flags_parse_true_and_false():
    import argparse

    from srnam.training.cli import add_run_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_run_arguments(parser, DEGRADATION_CONFIGS)
    parse = lambda *flags: config_from_args(DEGRADATION_CONFIGS, parser.parse_args(["--out", "x", *flags]))
    assert parse("--camera-head", "true").camera_head is True
    assert parse("--camera-head", "False").camera_head is False  # not bool("False")
    assert parse().camera_head is False
    with pytest.raises(ValueError, match="--camera-head takes true or false, got 'maybe'"):
        parse("--camera-head", "maybe")


def test_degradation_ema_is_what_is_exported_snapshotted_and_resumed(data, tmp_path, capsys):
    """A warm start with a critic warm-up and an average of the weights: what ships is the average."""
    with pytest.warns(UserWarning):
        train_degradation(data / "hr", data / "lr", tmp_path / "start", dataclasses.replace(TINY_DEGRADATION,
                                                                                             num_steps=2))
    config = dataclasses.replace(TINY_DEGRADATION, ema_beta=0.9, snapshot_every=3, critic_warmup=4,
                                 init_from=str(tmp_path / "start"))
    with pytest.warns(UserWarning):
        full = train_degradation(data / "hr", data / "lr", tmp_path / "full", config)
        assert "critic warm-up: 4 steps, critic loss" in capsys.readouterr().out
        train_degradation(data / "hr", data / "lr", tmp_path / "split", config, max_steps=4)
        capsys.readouterr()
        train_degradation(data / "hr", data / "lr", tmp_path / "split", config, resume=True)
        assert "critic warm-up" not in capsys.readouterr().out  # once per run, not again when it resumes
    # the warm-up's critic steps drew images too: 4 batches of 4 before 6 steps of (2 critic + 1 generator) × 4
    assert full.state.images_seen == 4 * 4 + 6 * 3 * 4
    export = _weights(tmp_path / "full" / "export" / "degradation" / "model.safetensors")
    checkpoint = tmp_path / "full" / "checkpoints" / "step-0000006"
    raw, average = checkpointed_state(checkpoint, "generator"), checkpointed_state(checkpoint, "ema")
    with pytest.raises(KeyError, match="no 'teacher'"):
        checkpointed_state(checkpoint, "teacher")
    assert all(torch.equal(export[k], average[k]) for k in export)  # the export is the average ...
    assert any(not torch.equal(export[k], raw[k]) for k in export)  # ... not the last raw weights
    snapshots = sorted(p.name for p in (tmp_path / "full" / "snapshots").iterdir())
    assert snapshots == ["step-0000003", "step-0000006"]
    last = _weights(tmp_path / "full" / "snapshots" / "step-0000006" / "degradation" / "model.safetensors")
    assert all(torch.equal(export[k], last[k]) for k in export)
    assert DegradationGenerator.from_folder(tmp_path / "full" / "snapshots" / "step-0000003" / "degradation")
    resumed = _weights(tmp_path / "split" / "export" / "degradation" / "model.safetensors")
    assert all(torch.equal(export[k], resumed[k]) for k in export)  # the average resumes exactly too
