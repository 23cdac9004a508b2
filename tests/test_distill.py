"""The style student (the second generator family) and its distillation trainer, on tiny models and a pair cache
made here (no teacher needed: the shards are random faces, the mapping a random StyleMapping)."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from srnam.errors import ModelLoadError
from srnam.models import STYLE_CHANNELS, ProGANGenerator, StyleStudentGenerator, generator_family, load_generator
from srnam.models.style_student import ModulatedLayer, StyleMapping
from srnam.pipeline import SRNAMPipeline
from srnam.search import style_statistics
from srnam.training.distill import DISTILL_CONFIGS, HighPassCritic, PairPool, high_pass, train
from srnam.training.teacher_pairs import MAPPING_FOLDER, read_shards, shard_latents, shard_path

from conftest import make_tiny_models

TINY = DISTILL_CONFIGS["tiny"]


def rotations(mapping: StyleMapping) -> StyleMapping:
    """A mapping whose w keeps what z says (the default init shrinks every z to about the same w)."""
    for linear in mapping.linears:
        torch.nn.init.orthogonal_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
    return mapping


def tiny_student(seed=0):
    torch.manual_seed(seed)
    student = StyleStudentGenerator(channels=STYLE_CHANNELS["tiny"]).eval()
    rotations(student.mapping)
    return student


def test_student_keeps_the_generator_contract_in_w_and_w_plus():
    g = tiny_student()
    z = torch.randn(3, 512)
    faces = g(z)
    assert faces.shape == (3, 3, 64, 64) and g.resolution == 64 and g.latent_size == 512
    w = g.styles(z)
    assert w.shape == (3, 512)
    same = w[:, None].repeat(1, g.num_style_layers, 1)
    torch.testing.assert_close(g.synthesis(same), faces)
    changed = same.clone()
    changed[:, -1] = g.styles(torch.randn(3, 512))  # the last to-RGB layer: only the finest colours move
    assert 0 < (g.synthesis(changed) - faces).abs().mean() < (faces - g(torch.randn(3, 512))).abs().mean()
    with pytest.raises(ValueError, match=f"{g.num_style_layers}, 512"):
        g.synthesis(w[:, None].repeat(1, 3, 1))
    zg = torch.randn(2, 512, requires_grad=True)
    (grad,) = torch.autograd.grad(g(zg).square().mean(), zg)
    assert grad.abs().sum() > 0


def test_modulated_layers_give_the_same_values_and_gradients_in_both_layouts():
    # The CPU runs the synthesis channels-last (fast_layout), CUDA in NCHW: the two paths must agree.
    torch.manual_seed(0)
    layer = ModulatedLayer(6, 5, 8)
    with torch.no_grad():
        layer.pixel_map.normal_()
        layer.bias.normal_()
    w = torch.randn(2, 512)
    x = torch.randn(2, 6, 8, 8)
    results = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        xi = x.contiguous(memory_format=memory_format).requires_grad_(True)
        y = layer(xi, w)
        assert y.is_contiguous(memory_format=memory_format) and y.shape == (2, 5, 8, 8)
        (grad,) = torch.autograd.grad((y * torch.arange(y.numel()).reshape(y.shape).sin()).sum(), xi)
        results.append((y, grad))
    torch.testing.assert_close(results[0], results[1])
    assert results[0][0].abs().mean() > 0.1  # not a layer that outputs (nearly) nothing
    g = tiny_student()
    assert g(torch.randn(2, 512)).is_contiguous(memory_format=torch.channels_last)  # fast_layout on the CPU


def test_student_mapping_is_frozen_and_truncates_toward_the_mean_style():
    g = tiny_student()
    assert not any(p.requires_grad for p in g.mapping.parameters())
    g.train()
    assert not g.mapping.training and g.synthesis.training
    mapping = StyleMapping()
    mapping.mean_style.fill_(0.5)
    mapping.psi.fill_(0.0)
    torch.testing.assert_close(mapping(torch.randn(4, 512)), torch.full((4, 512), 0.5))


def test_both_families_load_from_their_folders_and_into_a_pipeline(tmp_path):
    student = tiny_student()
    student.mapping.psi.fill_(0.8)
    student.save_pretrained(tmp_path / "student")
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config == {"latent_size": 512, "channels": list(STYLE_CHANNELS["tiny"]), "mapping_layers": 8}
    assert generator_family(tmp_path / "student") is StyleStudentGenerator
    loaded = load_generator(tmp_path / "student")
    z = torch.randn(2, 512)
    torch.testing.assert_close(loaded(z), student(z))
    assert float(loaded.mapping.psi) == pytest.approx(0.8)  # the truncation travels with the weights
    progan, degradation = make_tiny_models()
    progan.save_pretrained(tmp_path / "progan")
    assert generator_family(tmp_path / "progan") is ProGANGenerator
    SRNAMPipeline(student, degradation).save_pretrained(tmp_path / "pipe")
    pipe = SRNAMPipeline.from_pretrained(tmp_path / "pipe")
    assert isinstance(pipe.generator, StyleStudentGenerator)
    out = pipe(torch.rand(3, 16, 16), num_candidates=2, num_steps=3, seed=0, output_type="pt")
    assert out.hr_candidates.shape == (2, 3, 64, 64)


def test_a_hostile_student_folder_is_a_load_error(tmp_path):
    tiny_student().save_pretrained(tmp_path / "g")
    (tmp_path / "g" / "config.json").write_text('{"latent_size": 512, "channels": [16, -1], "mapping_layers": 8}')
    with pytest.raises(ModelLoadError, match=r"channels\[1\] must be in"):
        load_generator(tmp_path / "g")
    (tmp_path / "g" / "config.json").write_text("{nope")
    with pytest.raises(ModelLoadError, match="not JSON"):
        load_generator(tmp_path / "g")


def make_cache(folder: Path, shards: int, size: int = 8, seed: int = 0) -> Path:
    """A pair cache of smooth random 'faces' (a fixed random map of z, so the pairs are learnable)."""
    (folder / MAPPING_FOLDER).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    mapping = rotations(StyleMapping())
    save_file(mapping.state_dict(), str(folder / MAPPING_FOLDER / "model.safetensors"))
    basis = torch.randn(512, 3 * 8 * 8, generator=torch.Generator().manual_seed(1)) / 22.6
    for index in range(shards):
        z = shard_latents(seed, index, size)
        faces = torch.nn.functional.interpolate((z @ basis).tanh().reshape(-1, 3, 8, 8), size=64, mode="bilinear")
        save_file({"z": z, "faces": ((faces + 1) * 127.5).round().to(torch.uint8)}, str(shard_path(folder, index)))
    return folder


def test_pair_shards_are_read_in_order_and_checked(tmp_path):
    cache = make_cache(tmp_path / "c", 3)
    z, faces, shards = read_shards(cache)
    assert shards == 3 and z.shape == (24, 512) and faces.dtype == torch.uint8
    torch.testing.assert_close(z[8:16], shard_latents(0, 1, 8))
    assert read_shards(cache, 2)[2] == 2
    later, _, upto = read_shards(cache, start=1)  # a refresh reads only what came after the pool's shards
    assert upto == 3 and torch.equal(later, z[8:])
    with pytest.raises(ModelLoadError, match="has 3 complete shards, the run used 5"):
        read_shards(cache, 5)
    save_file({"z": torch.zeros(2, 512)}, str(shard_path(cache, 3)))
    with pytest.raises(ModelLoadError, match="not a pair shard"):
        read_shards(cache)


def test_high_pass_of_a_flat_image_is_zero_and_of_an_edge_is_not():
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert high_pass(flat).abs().max() < 1e-6
    edge = torch.zeros(1, 3, 16, 16)
    edge[..., 8:] = 1
    assert high_pass(edge).abs().max() > 0.3


def test_distillation_loss_falls(tmp_path):
    cache = make_cache(tmp_path / "c", 4)
    import dataclasses

    config = dataclasses.replace(TINY, total_steps=60, log_every=10, sample_every=1000, checkpoint_every=1000,
                                 snapshot_every=0, refresh_every=1000, lr=5e-3, batch_size=8)
    train(cache, tmp_path / "run", config)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["loss"] < 0.8 * lines[0]["loss"], [line["loss"] for line in lines]
    assert lines[-1]["val_psnr"] > lines[0]["val_psnr"]
    assert all(0 < line["sharpness"] for line in lines)  # the held-out faces' detail against the teacher's
    assert isinstance(load_generator(tmp_path / "run" / "export" / "generator"), StyleStudentGenerator)


def test_distillation_resumes_bit_exactly_with_a_growing_cache(tmp_path, monkeypatch):
    """A shard written while a run trains is picked up at the next refresh (every 3 steps here); a run resumed from
    its step-4 checkpoint reads the shard count that checkpoint recorded (not the shard written since), then
    refreshes at step 6 as the uninterrupted run does, so both end bit-identical."""
    import dataclasses

    import srnam.training.distill as distill

    config = dataclasses.replace(TINY, refresh_every=3)

    straight, sliced = make_cache(tmp_path / "a", 2), make_cache(tmp_path / "b", 2)
    reads = []

    def read_and_grow(folder, count=None, start=0):  # the background writer, as seen by the straight run
        reads.append(count)
        if len(reads) == 3:  # after the refresh at step 3, before the one at step 6
            make_cache(tmp_path / "a", 3)
        return read_shards(folder, count, start)

    monkeypatch.setattr(distill, "read_shards", read_and_grow)
    train(straight, tmp_path / "run_a", config)
    monkeypatch.undo()
    assert len(reads) == 3  # the start, and the refreshes at steps 3 and 6
    train(sliced, tmp_path / "run_b", config, max_steps=4)  # stops with a checkpoint at step 4
    make_cache(tmp_path / "b", 3)
    train(sliced, tmp_path / "run_b", config, resume=True)
    a = load_file(str(tmp_path / "run_a" / "export" / "generator" / "model.safetensors"))
    b = load_file(str(tmp_path / "run_b" / "export" / "generator" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    pairs = [json.loads(line)["pairs"] for line in (tmp_path / "run_b" / "metrics.jsonl").read_text().splitlines()]
    assert pairs[0] == 16 and pairs[-1] == 24  # the pool grew at the refresh


def test_a_cache_without_enough_pairs_says_so(tmp_path):
    cache = make_cache(tmp_path / "c", 0)
    pool = PairPool(cache, held_out=4)
    with pytest.raises(ValueError, match="holds 0 pairs"):
        pool.load(refresh=True)
    with pytest.raises(ModelLoadError, match="not a teacher-pair cache"):
        train(tmp_path / "empty", tmp_path / "run", TINY)


@pytest.mark.parametrize("space, shape", [("z", (1, 3, 512)), ("w", (1, 3, 512)), ("w+", (1, 3, 14, 512))])
def test_the_search_runs_in_z_w_and_w_plus_of_a_style_student(space, shape):
    from srnam.search import latent_search

    student = tiny_student()
    _, degradation = make_tiny_models()
    with torch.no_grad():
        target = degradation(student(torch.randn(1, 512, generator=torch.Generator().manual_seed(7))),
                             torch.zeros(1, degradation.noise_size))
    result = latent_search(student, degradation, target, num_candidates=3, num_steps=25, learning_rate=0.05,
                           latent_space=space, generator_rng=torch.Generator().manual_seed(0))
    assert result.latents.shape == shape and result.hr.shape == (1, 3, 3, 64, 64)
    assert (result.loss_history[-1] < result.loss_history[0]).all(), result.loss_history[[0, -1]]
    if space == "z":  # on the sphere, as for a ProGAN
        torch.testing.assert_close(result.latents.norm(dim=-1), torch.full((1, 3), 512 ** 0.5))
    else:  # the codes decode to the returned candidates, and each w lies on the sphere of the whitened styles
        with torch.no_grad():
            torch.testing.assert_close(student.faces_from_styles(result.latents[0]), result.hr[0])
        mean, whiten, _ = style_statistics(student)
        whitened_norm = ((result.latents - mean) @ whiten).norm(dim=-1)
        torch.testing.assert_close(whitened_norm, torch.full_like(whitened_norm, 512 ** 0.5))


def test_each_family_searches_at_its_own_learning_rate_unless_one_is_given():
    """The students' default step is 0.1, the ProGAN's 0.4: a search without a learning rate (the pipeline's,
    the CLI's default) takes the generator's own, bit for bit as if it had been given."""
    from srnam.search import DEFAULT_LEARNING_RATE, SearchSettings, latent_search, search_learning_rate

    progan, degradation = make_tiny_models()
    student = tiny_student()
    assert search_learning_rate(progan) == DEFAULT_LEARNING_RATE == 0.4
    assert search_learning_rate(student) == 0.1
    assert SearchSettings(seed=0).checked().learning_rate is None
    with pytest.raises(ValueError, match="learning_rate"):
        SearchSettings(learning_rate=0.0).checked()
    target = torch.rand(1, 3, 16, 16) * 2 - 1

    def search(rate):
        return latent_search(student, degradation, target, num_candidates=2, num_steps=4, learning_rate=rate,
                             generator_rng=torch.Generator().manual_seed(0)).latents

    assert torch.equal(search(None), search(0.1)) and not torch.equal(search(None), search(0.4))
    pipe = SRNAMPipeline(student, degradation)
    face = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(4))
    out = pipe(face, num_candidates=2, num_steps=4, seed=3, output_type="pt")
    again = pipe(face, num_candidates=2, num_steps=4, seed=3, learning_rate=0.1, output_type="pt")
    assert torch.equal(out.hr_candidates, again.hr_candidates)


def test_style_statistics_whiten_the_styles_and_free_w_leaves_their_sphere():
    from srnam.search import latent_search

    student = tiny_student()
    mean, whiten, colour = style_statistics(student)
    assert style_statistics(student)[0] is mean  # computed once per generator
    torch.testing.assert_close(whiten @ colour, torch.eye(512), atol=1e-3, rtol=0)
    w = student.styles(torch.randn(4000, 512, generator=torch.Generator().manual_seed(5)))
    white = (w - mean) @ whiten  # fresh styles, whitened: mean 0, unit variance in every direction
    # A 512-d covariance estimated from 10,000 samples whitens fresh ones to a variance of about 1/(1 - 512/10,000)
    # = 1.054 on average, with a few directions off by up to ~30%.
    variance = white.var(0)
    assert white.mean(0).abs().max() < 0.1 and abs(variance.mean() - 1.054) < 0.02 and (variance - 1).abs().max() < 0.5
    _, degradation = make_tiny_models()
    target = torch.rand(1, 3, 16, 16) * 2 - 1
    free = latent_search(student, degradation, target, num_candidates=3, num_steps=30, learning_rate=0.2,
                         latent_space="w", latent_constraint="free", generator_rng=torch.Generator().manual_seed(0))
    norms = ((free.latents[0] - mean) @ whiten).norm(dim=-1)
    assert ((norms - 512 ** 0.5).abs() > 0.5).all(), norms  # Adam's steps take a free w off the sphere


def test_w_spaces_need_a_style_generator():
    from srnam.search import latent_search

    progan, degradation = make_tiny_models()
    with pytest.raises(ValueError, match="needs a style-based generator.*ProGANGenerator"):
        latent_search(progan, degradation, torch.zeros(1, 3, 16, 16), num_steps=1, latent_space="w")
    with pytest.raises(ValueError, match="latent_space must be one of z, w, w\\+"):
        latent_search(progan, degradation, torch.zeros(1, 3, 16, 16), num_steps=1, latent_space="s")


def test_the_adversarial_fine_tune_trains_a_critic_and_resumes_exactly(tmp_path):
    import dataclasses

    cache = make_cache(tmp_path / "c", 2)
    config = dataclasses.replace(TINY, gan_weight=0.1, feature_weight=1.0, gp_every=2)
    train(cache, tmp_path / "a", config)
    train(cache, tmp_path / "b", config, max_steps=4)
    train(cache, tmp_path / "b", config, resume=True)
    lines = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(k in lines[-1] for k in ("loss_d", "gp", "adversarial", "features"))
    assert lines[0]["gp"] > 0 and lines[-1]["features"] > 0
    for part in ("generator", "critic"):
        a = load_file(str(tmp_path / "a" / "export" / part / "model.safetensors"))
        b = load_file(str(tmp_path / "b" / "export" / part / "model.safetensors"))
        assert all(torch.equal(a[key], b[key]) for key in a), part
    assert (tmp_path / "a" / "snapshots" / "step-0000004" / "critic" / "model.safetensors").is_file()
    warm = dataclasses.replace(config, init_from=str(tmp_path / "a" / "export"),
                               init_critic=str(tmp_path / "a" / "export"), total_steps=1)
    train(cache, tmp_path / "warm", warm)
    with pytest.raises(ValueError, match="need the critic"):
        train(cache, tmp_path / "bad", dataclasses.replace(TINY, feature_weight=1.0))


def test_the_high_pass_critic_judges_only_detail_and_pushes_no_low_frequency(tmp_path):
    """Frequency separation: a brightness shift changes nothing the critic sees, and its gradient to the image sums
    to zero over each channel (it cannot move what the paired terms hold). The run saves the plain critic."""
    import dataclasses

    from srnam.models import PROGAN_CHANNELS, ProGANDiscriminator

    torch.manual_seed(0)
    critic = ProGANDiscriminator(PROGAN_CHANNELS["tiny"], mbstd_group_size=1)
    judge = HighPassCritic(critic)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(judge(images + 0.3), judge(images))
    assert not torch.allclose(critic(images + 0.3), critic(images))  # the plain critic sees the shift
    images.requires_grad_(True)
    (grad,) = torch.autograd.grad(judge(images).sum(), images)
    assert grad.abs().amax() > 1e-3
    torch.testing.assert_close(grad.sum(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5, rtol=0)
    cache = make_cache(tmp_path / "c", 2)
    config = dataclasses.replace(TINY, gan_weight=1.0, critic_input="high-pass", detail_weight=0.0)
    train(cache, tmp_path / "run", config)
    saved = ProGANDiscriminator.from_folder(tmp_path / "run" / "export" / "critic")
    assert saved.state_dict().keys() == ProGANDiscriminator(PROGAN_CHANNELS["tiny"]).state_dict().keys()
    sharpen = DISTILL_CONFIGS["cpu-sharpen"]
    assert (sharpen.critic_input, sharpen.detail_weight, DISTILL_CONFIGS["cpu-trunk-sharpen"].family) == \
        ("high-pass", 0.0, "style-trunk")
    with pytest.raises(ValueError, match="critic_input must be 'image' or 'high-pass', got 'edges'"):
        train(cache, tmp_path / "bad", dataclasses.replace(config, critic_input="edges"))


def test_the_cli_searches_where_latent_space_says_and_refuses_w_for_progan(tmp_path, capsys):
    from srnam.commands import main

    student_pipe, progan_pipe = tmp_path / "student", tmp_path / "progan"
    SRNAMPipeline(tiny_student(), make_tiny_models()[1], device="cpu").save_pretrained(student_pipe)
    SRNAMPipeline(*make_tiny_models(), device="cpu").save_pretrained(progan_pipe)
    faces = Path(__file__).parent / "data" / "faces"
    fast = ["--limit", "1", "-k", "2", "-n", "2", "--faceness", "0"]
    for space, constraint in (("w", "sphere"), ("w+", "free")):
        out = tmp_path / f"eval_{space}"
        assert main(["evaluate", str(faces), "--model", str(student_pipe), "--latent-space", space,
                     "--latent-constraint", constraint, *fast, "--out", str(out)]) == 0
        settings = json.loads((out / "results.json").read_text())["settings"]
        assert (settings["latent_space"], settings["latent_constraint"]) == (space, constraint)
    capsys.readouterr()
    assert main(["evaluate", str(faces), "--model", str(progan_pipe), "--latent-space", "w", *fast,
                 "--out", str(tmp_path / "no")]) == 2
    assert "--latent-space w: latent_space 'w' needs a style-based generator" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()  # refused before any work
