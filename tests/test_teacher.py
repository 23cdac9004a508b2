"""The teacher (MobileStyleGAN from random-face's IR files) in torch, against OpenVINO and the corpus.

Needs the ``teacher`` extra (openvino, random-face): .ci/run installs it. Skipped, with the reason, without it.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("openvino", reason="the teacher extra (pip install -e .[teacher]) is not installed")

from srnam.errors import ModelLoadError  # noqa: E402
from srnam.models.openvino_ir import IRGraph  # noqa: E402
from srnam.models.teacher import MobileStyleGANTeacher, teacher_files  # noqa: E402

FACES = Path(__file__).parent / "data" / "faces"


@pytest.fixture(scope="module")
def folder():
    try:
        return teacher_files()
    except ModelLoadError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def teacher(folder):
    return MobileStyleGANTeacher(folder)


def _openvino(folder, name, inputs, batch):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(folder / f"{name}.xml", folder / f"{name}.bin")
    model.reshape({model.inputs[0].get_any_name(): [batch, 512]})
    # float32 throughout: on a CPU with AMX or AVX-512 BF16, OpenVINO's default is bfloat16 (errors of 1e-2)
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(inputs)[0]


def test_mapping_and_synthesis_match_openvino_on_fixed_styles(folder, teacher):
    z = np.random.default_rng(5).standard_normal((2, 512)).astype(np.float32)
    with torch.no_grad():
        w = teacher.mapping(torch.from_numpy(z))
        assert w.shape == (2, 512)
        np.testing.assert_allclose(w.numpy(), _openvino(folder, "MappingNetwork", z, 2), atol=1e-3, rtol=0)
        styles = teacher.truncate(w, 0.8).numpy()
        image = teacher.synthesis(torch.from_numpy(styles))
    assert image.shape == (2, 3, 1024, 1024)
    reference = _openvino(folder, "SynthesisNetwork", styles, 2)
    error = np.abs(image.numpy() - reference).max()
    assert error <= 1e-3, f"max abs error {error} against OpenVINO"
    assert reference.std() > 0.1  # a real portrait, not a constant that would match anything


def test_dev_latents_give_back_the_corpus_faces(teacher):
    """Mean style, truncation and the corpus framing, end to end: z of dev faces → the dev faces (JPEG aside)."""
    from srnam.faces.framing import crop_corpus

    z = torch.from_numpy(np.load(FACES / "dev_latents.npy"))
    with torch.no_grad():
        faces = teacher(z)
    assert faces.shape == (3, 3, 64, 64)
    for face, name in zip(faces, ("dev_00000", "dev_00003", "dev_00007")):
        truth = np.asarray(crop_corpus(Image.open(FACES / f"{name}.jpg"), 64), np.float32) / 127.5 - 1
        mse = ((face.clamp(-1, 1).permute(1, 2, 0).numpy() - truth) ** 2).mean()
        psnr = 10 * np.log10(4 / mse)
        assert psnr > 32, f"{name}: {psnr:.1f} dB from the corpus face"


def test_w_plus_feeds_each_layer_its_own_style(teacher):
    torch.manual_seed(0)
    w = teacher.styles(torch.randn(1, 512))
    layers = teacher.num_style_layers
    assert layers == 23
    same = w[:, None].repeat(1, layers, 1)
    names = tuple(teacher.block_outputs()[r] for r in (8, 16))
    with torch.no_grad():
        plain = teacher.synthesis_features(w, names)
        plus = teacher.synthesis_features(same, names)
        changed = same.clone()
        changed[:, 3] = teacher.styles(torch.randn(1, 512))  # a layer at 8 px: 16 px moves, the 4-px input not
        moved = teacher.synthesis_features(changed, names)
    for name in names:
        torch.testing.assert_close(plus[name], plain[name])
    assert plain[names[0]].shape == (1, 512, 8, 8) and plain[names[1]].shape == (1, 512, 16, 16)
    assert (moved[names[1]] - plain[names[1]]).abs().mean() > 1e-3
    with pytest.raises(ValueError, match=r"\[N, 23, 512\]"):
        teacher.synthesis(w[:, None].repeat(1, 5, 1))


def test_gradients_reach_the_latent(teacher):
    z = torch.randn(1, 512, requires_grad=True)
    w = teacher.styles(z)
    features = teacher.synthesis_features(w, (teacher.block_outputs()[8],))
    (grad,) = torch.autograd.grad(next(iter(features.values())).square().mean(), z)
    assert grad.shape == (1, 512) and grad.abs().sum() > 0


def test_bad_ir_files_are_load_errors(tmp_path, folder):
    (tmp_path / "g.xml").write_text("not xml at all")
    (tmp_path / "g.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="not an OpenVINO IR graph"):
        IRGraph(tmp_path / "g.xml")
    (tmp_path / "m.xml").write_bytes((folder / "MappingNetwork.xml").read_bytes())
    (tmp_path / "m.bin").write_bytes((folder / "MappingNetwork.bin").read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="too short"):
        IRGraph(tmp_path / "m.xml")
    with pytest.raises(ModelLoadError, match="missing IR file"):
        IRGraph(tmp_path / "none.xml")
    text = (folder / "MappingNetwork.xml").read_text().replace('type="PReLU"', 'type="Elu"', 1)
    (tmp_path / "m.xml").write_text(text)
    (tmp_path / "m.bin").write_bytes((folder / "MappingNetwork.bin").read_bytes())
    with pytest.raises(ModelLoadError, match="operation Elu"):
        IRGraph(tmp_path / "m.xml")


def test_distillation_on_the_fly_draws_fresh_teacher_pairs(tmp_path):
    """The GPU recipe's path (pair_source on-the-fly), on the CPU for two steps of two pairs."""
    import dataclasses
    import json

    from srnam.models import StyleStudentGenerator, load_generator
    from srnam.training.distill import DISTILL_CONFIGS, train

    config = dataclasses.replace(DISTILL_CONFIGS["tiny"], pair_source="on-the-fly", batch_size=2, total_steps=2,
                                 held_out=2, teacher_batch=2, sample_every=2, checkpoint_every=2, snapshot_every=0)
    train(None, tmp_path / "run", config)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(line["val_psnr"] > 5 for line in lines)
    student = load_generator(tmp_path / "run" / "export" / "generator")
    assert isinstance(student, StyleStudentGenerator) and float(student.mapping.psi) == pytest.approx(0.8)


def test_pair_cache_faces_are_the_teachers(tmp_path, teacher):
    from srnam.training.teacher_pairs import fill_cache, read_mapping, read_shards

    assert fill_cache(tmp_path, shards=1, shard_size=2, log=lambda *_: None) == 1
    assert fill_cache(tmp_path, shards=1, shard_size=2, log=lambda *_: None) == 0  # complete shards are kept
    z, faces, shards = read_shards(tmp_path)
    with torch.no_grad():
        expected = ((teacher(z).clamp(-1, 1) + 1) * 127.5)
    assert (faces.float() - expected).abs().max() <= 1.0  # OpenVINO's pairs, to the 8-bit rounding
    assert set(read_mapping(tmp_path)) >= {"mean_style", "psi", "linears.0.weight"}


def test_the_packed_teacher_travels_within_an_8_bit_level(tmp_path, monkeypatch):
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    done = subprocess.run([sys.executable, str(root / "train" / "pack_teacher.py"), str(tmp_path / "packed")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    levels = [float(v) for v in done.stdout.split("by ")[1].replace(" at most", "").split(" 8-bit levels on average, ")]
    assert levels[0] < 0.2 and levels[1] < 1.5, done.stdout
    size = sum(p.stat().st_size for p in (tmp_path / "packed").iterdir())
    assert size < 26 * 2**20
    monkeypatch.setenv("SRNAM_TEACHER_DIR", str(tmp_path / "packed"))
    assert teacher_files() == tmp_path / "packed"
    monkeypatch.setenv("SRNAM_TEACHER_DIR", str(tmp_path))
    with pytest.raises(ModelLoadError, match="has no MappingNetwork.xml"):
        teacher_files()


def test_a_pipeline_searches_the_full_teacher(tmp_path):
    """The GPU option (the quality ceiling), on the CPU for one step: the folder's camera model, the teacher's
    faces, and its W space."""
    from conftest import make_tiny_models

    from srnam.pipeline import SRNAMPipeline

    progan, degradation = make_tiny_models()
    SRNAMPipeline(progan, degradation).save_pretrained(tmp_path / "pipe")
    pipe = SRNAMPipeline.from_pretrained(tmp_path / "pipe", generator="teacher", device="cpu")
    assert isinstance(pipe.generator, MobileStyleGANTeacher)
    out = pipe(torch.rand(3, 16, 16), num_candidates=1, num_steps=1, seed=0, output_type="pt", latent_space="w")
    assert out.hr_candidates.shape == (1, 3, 64, 64) and out.latents.shape == (1, 512)
    with pytest.raises(ValueError, match="generator must be 'pipeline' or 'teacher'"):
        SRNAMPipeline.from_pretrained(tmp_path / "pipe", generator="student")


def test_squeeze_without_an_axes_input_drops_every_unit_dimension():
    from srnam.models.openvino_ir import OPS

    assert OPS["Squeeze"](torch.zeros(1, 3, 1, 2), {}).shape == (3, 2)
    assert OPS["Squeeze"](torch.zeros(1, 3, 1, 2), torch.tensor([2]), {}).shape == (1, 3, 2)
