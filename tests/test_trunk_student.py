"""The trunk student (the third generator family): the teacher's synthesis up to 16 px, copied, and a learned head.

The wavelet upsampling, the head's geometry and the generator contract need no teacher; the copy and the training
run use the real one (the teacher extra, which .ci/run installs; skipped with the reason without it)."""
import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from srnam.errors import ModelLoadError
from srnam.models import TrunkStudentGenerator, generator_family, load_generator
from srnam.models.trunk_student import CORPUS_BOX, PORTRAIT, TeacherTrunk, haar_upsample, head_region
from srnam.pipeline import SRNAMPipeline
from srnam.training.distill import DISTILL_CONFIGS, train
from srnam.training.teacher_pairs import MAPPING_FOLDER, shard_latents, shard_path

from conftest import make_tiny_models

TINY = DISTILL_CONFIGS["tiny-trunk"]


def haar_analysis(image: torch.Tensor) -> torch.Tensor:
    """[N, C, 2H, 2W] → [N, 4C, H, W] in the teacher's band layout: the forward transform, written out by hand."""
    a, b = image[..., 0::2, 0::2], image[..., 0::2, 1::2]
    c, d = image[..., 1::2, 0::2], image[..., 1::2, 1::2]
    low, b0, b1, b2 = (a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2
    n, ch, h, w = low.shape
    return torch.cat([low, torch.stack([b0, b1, b2], 2).reshape(n, 3 * ch, h, w)], 1)


def test_haar_upsampling_inverts_the_haar_transform():
    image = torch.randn(2, 5, 8, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(haar_upsample(haar_analysis(image)), image)
    flat = torch.zeros(1, 4, 3, 3)
    flat[:, 0] = 2.0  # a low band alone: a flat image at half its value per pixel of the doubled grid
    torch.testing.assert_close(haar_upsample(flat), torch.ones(1, 1, 6, 6))


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_the_head_region_holds_the_face_box_with_a_margin_inside_the_frame(resolution):
    x0, y0, size = head_region(resolution)
    k = resolution / PORTRAIT
    assert 0 <= x0 and 0 <= y0 and x0 + size <= resolution and y0 + size <= resolution
    assert x0 <= CORPUS_BOX[0] * k - 1 and y0 <= CORPUS_BOX[1] * k - 1 or y0 == 0
    assert x0 + size >= CORPUS_BOX[2] * k + 1 and y0 + size >= min(CORPUS_BOX[3] * k + 1, resolution)
    assert head_region(16) == (1, 2, 14)


def test_trunk_student_keeps_the_generator_contract_and_round_trips(tmp_path):
    torch.manual_seed(0)
    g = TrunkStudentGenerator(head_channels=(8, 8)).eval()
    with torch.no_grad():
        for p in g.synthesis.trunk.parameters():  # a trunk that says something (the zeros a fresh one holds do not)
            p.normal_(0, 0.05)
    z = torch.randn(3, 512)
    faces = g(z)
    assert faces.shape == (3, 3, 64, 64) and faces.std() > 0
    assert g.num_style_layers == 7 + 6  # the trunk's input layer and 2 blocks × 3; the head's up, 2 × 2 layers, out
    w = g.styles(z)
    torch.testing.assert_close(g.faces_from_styles(w.unsqueeze(1).expand(-1, g.num_style_layers, -1)), faces)
    with pytest.raises(ValueError, match=r"\[N, 13, 512\] \(W\+\)"):
        g.faces_from_styles(w.unsqueeze(1))
    g.save_pretrained(tmp_path / "g")
    assert generator_family(tmp_path / "g") is TrunkStudentGenerator
    again = load_generator(tmp_path / "g")
    torch.testing.assert_close(again(z), faces)
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    config["head_channels"] = [8]
    (tmp_path / "g" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="head_channels must have 2 entries"):
        load_generator(tmp_path / "g")
    config["head_channels"], config["trunk_resolution"] = [8, 8], 12
    (tmp_path / "g" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="8-, 16-, 32- or 64-px block, not 12"):
        load_generator(tmp_path / "g")


def test_a_packed_head_round_trips_and_refuses_another_config(tmp_path):
    from srnam.models.trunk_student import HEAD_FILE, load_head, save_head

    torch.manual_seed(2)
    g = TrunkStudentGenerator(head_channels=(8, 8))
    save_head(g, tmp_path / "head")
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == ["config.json", HEAD_FILE]
    assert all(k.startswith("synthesis.head.") for k in load_file(str(tmp_path / "head" / HEAD_FILE)))
    torch.manual_seed(3)
    other = load_head(TrunkStudentGenerator(head_channels=(8, 8)), tmp_path / "head")
    for key, value in g.synthesis.head.state_dict().items():
        assert torch.equal(other.synthesis.head.state_dict()[key], value), key
    with pytest.raises(ModelLoadError, match="holds a head for .* not for this generator"):
        load_head(TrunkStudentGenerator(head_channels=(8, 4)), tmp_path / "head")


def test_the_search_runs_in_w_plus_of_a_trunk_student():
    torch.manual_seed(1)
    g = TrunkStudentGenerator(head_channels=(8, 8)).eval()
    _, degradation = make_tiny_models()
    pipe = SRNAMPipeline(g, degradation)
    out = pipe(torch.rand(3, 16, 16), num_candidates=2, num_steps=3, latent_space="w+", seed=0, output_type="pt")
    assert out.hr_candidates.shape == (2, 3, 64, 64)
    assert out.latents.shape == (2, g.num_style_layers, 512)


@pytest.fixture(scope="module")
def teacher():
    pytest.importorskip("openvino", reason="the teacher extra (pip install -e .[teacher]) is not installed")
    from srnam.models.teacher import MobileStyleGANTeacher

    try:
        return MobileStyleGANTeacher().eval().requires_grad_(False)
    except ModelLoadError as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("resolution", [8, 16])
def test_the_copied_trunk_is_the_teachers_synthesis(teacher, resolution):
    trunk = TeacherTrunk(resolution).copy_from_teacher(teacher)
    w = teacher.styles(torch.randn(2, 512, generator=torch.Generator().manual_seed(5)))
    end = teacher.block_outputs()[resolution]
    expected = teacher.synthesis_features(w, (end,))[end]
    got = trunk(iter([w] * trunk.num_style_layers))
    assert got.shape == (2, 512, resolution, resolution)
    assert (got - expected).abs().max() < 1e-4
    g = TrunkStudentGenerator(trunk_resolution=resolution, head_channels=(8,) * (6 - resolution.bit_length() + 1))
    g.copy_from_teacher(teacher)  # the mapping too: z means what the teacher's z means
    next_block = TeacherTrunk(2 * resolution).copy_from_teacher(teacher).blocks[-1]  # the head's upsampling
    assert torch.equal(g.synthesis.head.up_affine.weight, next_block.up_affine.weight)
    assert torch.equal(g.synthesis.head.up_affine.bias, next_block.up_affine.bias)
    torch.testing.assert_close(g.styles(torch.zeros(1, 512) + 1), teacher.styles(torch.zeros(1, 512) + 1),
                               rtol=1e-4, atol=1e-4)


def make_trunk_cache(folder, teacher, shards: int, size: int = 8):
    """A pair cache whose faces a trunk student can fit: those of a reference trunk student with its own head."""
    (folder / MAPPING_FOLDER).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(11)
    reference = TrunkStudentGenerator(head_channels=TINY.head_channels).copy_from_teacher(teacher).eval()
    with torch.no_grad():
        reference.synthesis.head.to_subpixels.pointwise.mul_(8)  # faces with contrast (a fresh head's are grey)
    save_file(reference.mapping.state_dict(), str(folder / MAPPING_FOLDER / "model.safetensors"))
    for index in range(shards):
        z = shard_latents(0, index, size)
        with torch.no_grad():
            faces = reference(z).clamp(-1, 1)
        save_file({"z": z, "faces": ((faces + 1) * 127.5).round().to(torch.uint8)}, str(shard_path(folder, index)))
    return folder


def pack_trunk_head(*args) -> int:
    """train/pack_trunk_head.py's exit code for these arguments."""
    import runpy
    import sys

    sys.argv = ["pack_trunk_head.py", *map(str, args)]
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path("train/pack_trunk_head.py", run_name="__main__")
    return exit_.value.code


def test_a_trunk_run_trains_the_head_only_and_its_loss_falls(tmp_path, teacher):
    cache = make_trunk_cache(tmp_path / "c", teacher, 4)
    config = dataclasses.replace(TINY, total_steps=40, log_every=5, sample_every=1000, checkpoint_every=1000,
                                 snapshot_every=0, refresh_every=1000, lr=5e-3, batch_size=8)
    train(cache, tmp_path / "run", config)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [line["val_psnr"] for line in lines]
    assert val[-1] > val[0] + 1, val  # the held-out fit rises: the head learns
    student = load_generator(tmp_path / "run" / "export" / "generator")
    assert isinstance(student, TrunkStudentGenerator)
    fresh = TeacherTrunk(16).copy_from_teacher(teacher).state_dict()
    for key, value in student.synthesis.trunk.state_dict().items():
        assert torch.equal(value, fresh[key]), key  # frozen: exported as copied
    weights = load_file(str(tmp_path / "run" / "export" / "generator" / "model.safetensors"))
    assert any(key.startswith("synthesis.head.") for key in weights)
    # the packed head (train/pack_trunk_head.py) warm-starts a run: the rest is copied from the teacher again
    assert pack_trunk_head(tmp_path / "run", tmp_path / "packed") == 0
    train(cache, tmp_path / "warm", dataclasses.replace(config, init_from=str(tmp_path / "packed"), lr=0.0,
                                                        total_steps=2))
    warm = load_generator(tmp_path / "warm" / "export" / "generator")
    for key, value in student.state_dict().items():
        assert torch.equal(warm.state_dict()[key], value), key
    # --unpack: the whole generator again, from the head and the installed teacher (what a GPU run brings back)
    assert pack_trunk_head("--unpack", tmp_path / "packed", tmp_path / "unpacked") == 0
    unpacked = load_generator(tmp_path / "unpacked" / "generator")
    for key, value in student.state_dict().items():
        assert torch.equal(unpacked.state_dict()[key], value), key
    assert pack_trunk_head("--unpack", tmp_path / "run", tmp_path / "nothing") == 2  # a run folder, not a head
    assert not (tmp_path / "nothing").exists()
    with pytest.raises(ValueError, match="teacher hints teach a student's own coarse layers"):
        train(cache, tmp_path / "run2", dataclasses.replace(TINY, hint_weight=0.1))
