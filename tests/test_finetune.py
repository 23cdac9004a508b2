"""Adversarial fine-tuning of a trained generator: warm start, the anchor, lazy penalty, bf16, augmentation."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from srnam.errors import ModelLoadError
from srnam.models import ProGANDiscriminator, ProGANGenerator
from srnam.training.augment import diff_augment, parse_policy, xflip
from srnam.training.progan import PROGAN_CONFIGS, ProGANLoss, Schedule, find_model_folder
from srnam.training.progan import train as train_progan

TINY = PROGAN_CONFIGS["tiny"]
FINE_TUNE = dataclasses.replace(TINY, stage_epochs=(0, 0, 0, 0, 3), anchor_weight=1.0, lr_g=1e-4, gp_every=2,
                                diffaugment="color,translation", checkpoint_every=3)  # 6 steps at 64×64


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "hr"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def initial(tmp_path_factory):
    """A pipeline-style folder holding a (seeded, untrained) tiny generator: what --init-from reads."""
    folder = tmp_path_factory.mktemp("pipeline")
    torch.manual_seed(123)
    ProGANGenerator(TINY.latent_size, TINY.channels).save_pretrained(folder / "generator")
    return folder


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_schedule_can_start_at_the_last_stage_without_a_fade():
    schedule = Schedule(FINE_TUNE, num_images=8)
    assert schedule.total_images == 24
    assert schedule.at(0) == (4, 1.0, 4) and schedule.at(23) == (4, 1.0, 4)


def test_warm_start_anchors_to_the_initial_generator(data, initial, tmp_path):
    config = dataclasses.replace(FINE_TUNE, precision="fp32")
    train_progan(data, tmp_path / "run", dataclasses.replace(config, init_from=str(initial)))
    records = _metrics(tmp_path / "run")
    assert [r["resolution"] for r in records] == [64] * 6 and {r["alpha"] for r in records} == {1.0}
    # step 1 runs G before any update: G(z) is the initial G0(z), so the anchor is exactly 0; then it moves
    assert records[0]["anchor"] == 0.0 and all(r["anchor"] > 0 for r in records[1:])
    assert all(np.isfinite([r["loss_d"], r["loss_g"], r["adversarial"], r["gp"]]).all() for r in records)
    # the lazy penalty (every 2nd step) is logged on every line: the last one computed
    assert all(r["gp"] > 0 for r in records)
    # the critic is exported too, and a later run can start from it
    critic_folder = tmp_path / "run" / "export" / "critic"
    assert ProGANDiscriminator.from_folder(critic_folder).channels == TINY.channels
    train_progan(data, tmp_path / "again", dataclasses.replace(config, init_from=str(tmp_path / "run"),
                                                                init_critic=str(tmp_path / "run"), anchor_weight=0.0))
    assert (tmp_path / "again" / "export" / "generator").is_dir()


def test_a_fresh_run_starts_from_the_initial_weights(data, initial, tmp_path):
    # lr 0 for G: the export is the initial generator bit for bit (EMA of constant weights)
    config = dataclasses.replace(FINE_TUNE, init_from=str(initial), lr_g=1e-30, stage_epochs=(0, 0, 0, 0, 0.5))
    train_progan(data, tmp_path / "run", config)
    start = load_file(initial / "generator" / "model.safetensors")
    end = load_file(tmp_path / "run" / "export" / "generator" / "model.safetensors")
    assert all(torch.allclose(start[k], end[k], atol=1e-6) for k in start)


def test_fine_tune_in_bf16_resumes_exactly(data, initial, tmp_path):
    config = dataclasses.replace(FINE_TUNE, init_from=str(initial), precision="bf16")
    train_progan(data, tmp_path / "full", config)
    train_progan(data, tmp_path / "split", config, max_steps=3)
    train_progan(data, tmp_path / "split", config, resume=True)
    a = load_file(tmp_path / "full" / "export" / "generator" / "model.safetensors")
    b = load_file(tmp_path / "split" / "export" / "generator" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss_d"] for r in _metrics(tmp_path / "split")] == [r["loss_d"] for r in _metrics(tmp_path / "full")]


@pytest.mark.parametrize("fields, error, message", [
    (dict(anchor_weight=1.0, init_from=""), ValueError, "needs init_from"),
    (dict(precision="fp16"), ValueError, "precision must be one of auto, fp32, bf16"),
    (dict(gp_every=0), ValueError, "gp_every must be >= 1"),
    (dict(diffaugment="cutout"), ValueError, "unknown DiffAugment policy"),
    (dict(critic_channels=(16, 16, 8)), ValueError, "one width per stage"),
])
def test_settings_that_cannot_train(data, tmp_path, fields, error, message):
    with pytest.raises(error, match=message):
        train_progan(data, tmp_path / "run", dataclasses.replace(FINE_TUNE, **{"anchor_weight": 0.0, **fields}))


def test_warm_start_errors_name_the_problem(data, initial, tmp_path):
    with pytest.raises(ModelLoadError, match="no generator model in"):
        train_progan(data, tmp_path / "a", dataclasses.replace(FINE_TUNE, init_from=str(tmp_path)))
    wider = dataclasses.replace(FINE_TUNE, init_from=str(initial), channels=(16, 16, 8, 8, 8))
    with pytest.raises(ValueError, match=r"widths \(16, 16, 8, 8, 4\), the config \(16, 16, 8, 8, 8\).*--channels"):
        train_progan(data, tmp_path / "b", wider)
    with pytest.raises(ModelLoadError, match="no critic model in"):
        train_progan(data, tmp_path / "c", dataclasses.replace(FINE_TUNE, init_from=str(initial),
                                                               init_critic=str(initial)))
    assert find_model_folder(initial, "generator") == initial / "generator"
    assert find_model_folder(initial / "generator", "generator") == initial / "generator"


def test_a_wider_critic_trains_exports_and_is_checked_on_warm_start(data, initial, tmp_path):
    wide = (32, 32, 16, 16, 8)
    config = dataclasses.replace(FINE_TUNE, init_from=str(initial), critic_channels=wide, precision="fp32")
    train_progan(data, tmp_path / "run", config)
    assert ProGANDiscriminator.from_folder(tmp_path / "run" / "export" / "critic").channels == wide
    # the generator keeps its own (search-speed) widths
    assert ProGANGenerator.from_folder(tmp_path / "run" / "export" / "generator").channels == TINY.channels
    assert all(np.isfinite(r["loss_d"]) for r in _metrics(tmp_path / "run"))
    narrow = dataclasses.replace(config, init_critic=str(tmp_path / "run"), critic_channels=())
    with pytest.raises(ValueError, match=r"critic has widths \(32, 32, 16, 16, 8\).*--critic-channels 32,32,16,16,8"):
        train_progan(data, tmp_path / "again", narrow)


def test_lazy_penalty_is_weighted_by_its_interval():
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, gp_every=4, xflip=0)
    g, critic = ProGANGenerator(TINY.latent_size, TINY.channels), ProGANDiscriminator(TINY.channels)
    loss = ProGANLoss(config, g, critic)
    real, fake = torch.randn(4, 3, 64, 64), torch.randn(4, 3, 64, 64)
    with_gp = loss.critic_step(real, fake, 4, 1.0, torch.Generator().manual_seed(1), step=8)
    without = loss.critic_step(real, fake, 4, 1.0, torch.Generator().manual_seed(1), step=9)
    assert with_gp["gp"] > 0 and without["gp"] == with_gp["gp"]  # step 9 reports the last computed penalty
    difference = with_gp["loss_d"] - without["loss_d"]
    assert difference.item() == pytest.approx(config.gp_lambda * 4 * with_gp["gp"].item(), rel=1e-4)


def test_feature_matching_compares_the_critics_features_of_each_pair():
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, feature_weight=1.0)
    g, critic = ProGANGenerator(TINY.latent_size, TINY.channels), ProGANDiscriminator(TINY.channels)
    loss = ProGANLoss(config, g, critic)
    real = torch.rand(4, 3, 64, 64) * 2 - 1
    features = []
    critic(real, 4, 1.0, features=features)
    widths = TINY.channels  # the activation of stage s has that stage's width and side
    assert [tuple(f.shape[1:]) for f in features] == [(widths[s], 4 * 2**s, 4 * 2**s) for s in range(4, -1, -1)]
    assert loss.feature_matching(real, real, 4, 1.0).item() == 0.0  # a pair that matches
    fake = g(torch.randn(4, TINY.latent_size))
    distance = loss.feature_matching(fake, real, 4, 1.0)
    assert distance.item() > 0
    distance.backward()  # the generator learns from it, the critic is left alone
    assert all(p.grad is not None for p in g.blocks.parameters()) and all(p.grad is None for p in critic.parameters())
    assert all(p.requires_grad for p in critic.parameters())


@pytest.fixture(scope="module")
def paired(data, tmp_path_factory):
    """The faces of ``data`` with a latent per face (latents.npy), as prepare_data.py --latents writes them."""
    folder = tmp_path_factory.mktemp("paired") / "hr"
    folder.mkdir()
    for image in sorted(data.glob("*.png")):
        (folder / image.name).write_bytes(image.read_bytes())
    rng = np.random.default_rng(1)
    np.save(folder / "latents.npy", rng.standard_normal((8, TINY.latent_size)).astype(np.float32))
    return folder


def test_feature_matching_trains_with_the_data_latents(data, paired, tmp_path):
    config = dataclasses.replace(FINE_TUNE, anchor_weight=0.0, feature_weight=2.0, log_every=1)
    train_progan(paired, tmp_path / "run", config)
    assert all(r["features"] > 0 for r in _metrics(tmp_path / "run"))
    with pytest.raises(FileNotFoundError, match="feature_weight > 0 needs"):
        train_progan(data, tmp_path / "no-latents", config)
    with pytest.raises(ValueError, match="feature_weight > 0 .* needs gan_weight > 0"):
        train_progan(paired, tmp_path / "no-critic", dataclasses.replace(config, gan_weight=0.0, distill_weight=1.0))


def test_a_snapshot_is_a_warm_start_that_continues_the_run(paired, initial, tmp_path):
    config = dataclasses.replace(FINE_TUNE, init_from=str(initial), anchor_weight=0.0, distill_weight=1.0,
                                 latent_lr=0.05, snapshot_every=3, precision="fp32")
    train_progan(paired, tmp_path / "run", config)
    snapshot = tmp_path / "run" / "snapshots" / "step-0000003"
    assert ProGANDiscriminator.from_folder(snapshot / "critic").channels == TINY.channels
    data_latents = torch.from_numpy(np.load(paired / "latents.npy"))
    saved = load_file(snapshot / "latents.safetensors")["latents"]
    assert saved.dtype == torch.float16 and saved.shape == data_latents.shape
    assert torch.allclose(saved.float().norm(dim=1), torch.full((8,), TINY.latent_size ** 0.5), rtol=1e-3)
    assert not torch.allclose(saved.float(), data_latents, atol=0.1)  # learned, not the data's
    final_codes = torch.load(sorted((tmp_path / "run" / "checkpoints").iterdir())[-1] / "custom_checkpoint_6.pkl",
                             weights_only=True)["codes"]
    exported = load_file(tmp_path / "run" / "export" / "latents.safetensors")["latents"].float()
    assert torch.allclose(exported, final_codes, atol=0.02)

    # A new run from the snapshot (learning rates ~0, so it stays where it starts): the generator, the critic and
    # the z_i are the snapshot's.
    frozen = dataclasses.replace(config, init_from=str(snapshot), init_critic=str(snapshot),
                                 init_latents=str(snapshot), lr=1e-30, lr_g=1e-30, latent_lr=1e-30, snapshot_every=0)
    train_progan(paired, tmp_path / "again", frozen, max_steps=2)
    state = [torch.load(sorted((tmp_path / "again" / "checkpoints").iterdir())[-1] / f"custom_checkpoint_{i}.pkl",
                        weights_only=True) for i in (0, 1, 6)]
    for loaded, folder in ((state[0], snapshot / "generator"), (state[1], snapshot / "critic")):
        expected = load_file(folder / "model.safetensors")
        assert all(torch.allclose(loaded[k], expected[k], atol=1e-6) for k in expected)
    assert torch.allclose(state[2]["codes"], saved.float(), atol=1e-2)

    with pytest.raises(ValueError, match="init_latents starts the z_i of the paired loss: it needs distill_weight"):
        train_progan(paired, tmp_path / "a", dataclasses.replace(frozen, distill_weight=0.0, latent_lr=0.0))
    with pytest.raises(FileNotFoundError, match="no latents file at"):
        train_progan(paired, tmp_path / "b", dataclasses.replace(frozen, init_latents=str(initial)))
    other = tmp_path / "other.safetensors"
    save_file({"latents": torch.zeros(5, TINY.latent_size)}, str(other))
    with pytest.raises(ValueError, match=r"shape \(5, 32\), the data \(8, 32\).*written for other data"):
        train_progan(paired, tmp_path / "c", dataclasses.replace(frozen, init_latents=str(other)))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="is not a latents file"):
        train_progan(paired, tmp_path / "d", dataclasses.replace(frozen, init_latents=str(broken)))


def test_xflip_mirrors_about_half_reproducibly():
    images = torch.arange(64 * 2 * 4 * 4, dtype=torch.float32).reshape(64, 2, 4, 4)
    out = xflip(images, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f != k for f, k in zip(flipped, kept)) and 20 < sum(flipped) < 44
    assert torch.equal(out, xflip(images, torch.Generator().manual_seed(0)))


def test_diff_augment_translates_and_recolours_differentiably():
    assert parse_policy(" color, translation ") == ("color", "translation") and parse_policy("") == ()
    images = torch.rand(6, 3, 16, 16, requires_grad=True)
    moved = diff_augment(images, ("translation",), torch.Generator().manual_seed(3))
    assert moved.shape == images.shape
    # every output is its input shifted by at most 2 px (16 / 8) with zeros coming in
    for out, image in zip(moved.detach(), images.detach()):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(out, torch.nn.functional.pad(image, (2, 2, 2, 2))[:, 2 - dy:18 - dy, 2 - dx:18 - dx])]
        assert matches, "not a shift"
    recoloured = diff_augment(images, ("color",), torch.Generator().manual_seed(3))
    assert not torch.allclose(recoloured, images)
    (moved.sum() + recoloured.sum()).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    again = diff_augment(images, ("color", "translation"), torch.Generator().manual_seed(3))
    assert torch.equal(again, diff_augment(images, ("color", "translation"), torch.Generator().manual_seed(3)))


def test_command_line_overrides_parse_lists_even_with_an_empty_default():
    import argparse

    from srnam.training.cli import add_run_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_run_arguments(parser, PROGAN_CONFIGS)
    args = parser.parse_args(["--out", "x", "--config", "compact-finetune", "--critic-channels", "256,256,128,64,32",
                              "--anchor-weight", "300"])
    config = config_from_args(PROGAN_CONFIGS, args)
    assert config.critic_channels == (256, 256, 128, 64, 32) and config.anchor_weight == 300.0
    assert config.channels == PROGAN_CONFIGS["compact-finetune"].channels


def test_precision_auto_takes_bf16_only_where_the_cpu_has_it(tmp_path):
    from srnam.training.precision import cpu_flags, describe_cpu, resolve_precision

    cpu = torch.device("cpu")
    amd_without_avx512 = {"sse4_2", "avx", "avx2", "fma"}
    assert resolve_precision("auto", cpu, {"avx2", "avx512f", "avx512_bf16"}) == ("bf16", None)
    assert resolve_precision("auto", cpu, {"avx2", "amx_bf16"}) == ("bf16", None)
    used, note = resolve_precision("auto", cpu, amd_without_avx512)
    assert used == "fp32" and note.startswith("precision: float32, as bfloat16 is not native on this CPU")
    used, note = resolve_precision("bf16", cpu, amd_without_avx512)  # forced: done, with a warning
    assert used == "bf16" and "emulated" in note
    assert resolve_precision("fp32", cpu, {"avx512_bf16"}) == ("fp32", None)
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        resolve_precision("fp16", cpu)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse avx2\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx2"} and cpu_flags(tmp_path / "missing") == set()
    assert "no AVX2, AVX-512 or BF16 flags" in describe_cpu(set()) and "avx2" in describe_cpu({"avx2"})
    assert PROGAN_CONFIGS["compact-finetune"].precision == "auto"


def test_a_run_on_a_cpu_without_native_bf16_trains_in_float32_and_says_so(data, initial, tmp_path, monkeypatch,
                                                                          capsys):
    import srnam.training.precision as precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    seen, original = [], ProGANLoss.critic_step

    def recording(self, *args, **kwargs):  # the precision each critic step runs in
        seen.append(self.autocast)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(ProGANLoss, "critic_step", recording)
    config = dataclasses.replace(FINE_TUNE, init_from=str(initial), precision="auto", stage_epochs=(0, 0, 0, 0, 1))
    train_progan(data, tmp_path / "run", config)
    assert "precision: float32, as bfloat16 is not native on this CPU" in capsys.readouterr().out
    assert seen and not any(seen)
