"""Teacher hints: the teacher's block activations as the distillation's perceptual term (issue 28).

The adapters and the loss need no teacher; the targets and the training run use the real one (the teacher extra,
which .ci/run installs; skipped with the reason without it)."""
import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from srnam.errors import ModelLoadError
from srnam.training.distill import DISTILL_CONFIGS, train
from srnam.training.teacher_hints import TeacherHints

from test_distill import make_cache, tiny_student


def test_the_adapters_learn_a_linear_map_of_the_student_features():
    """The loss is the L1 relative to the teacher map's magnitude, and the 1×1 adapters can drive it to ~0 when
    the teacher's map is a linear function of the student's."""
    hints = TeacherHints({8: 6, 16: 4}, {16: 10, 32: 12}, (8, 16))
    gen = torch.Generator().manual_seed(0)
    features = {8: torch.randn(4, 6, 8, 8, generator=gen), 16: torch.randn(4, 4, 16, 16, generator=gen)}
    maps = {8: torch.randn(10, 6, generator=gen), 16: torch.randn(12, 4, generator=gen)}
    targets = {r: torch.einsum("oc,nchw->nohw", maps[r], f) for r, f in features.items()}
    optimizer = torch.optim.Adam(hints.parameters(), lr=0.05)
    first = hints.loss(features, targets).item()
    for _ in range(300):
        optimizer.zero_grad()
        loss = hints.loss(features, targets)
        loss.backward()
        optimizer.step()
    assert first > 0.5 and loss.item() < 0.05 * first, (first, loss.item())
    before = hints.loss(features, targets)
    with torch.no_grad():  # scale-free: adapters and targets both 10× give the same loss
        for parameter in hints.parameters():
            parameter.mul_(10)
    scaled = {r: 10 * t for r, t in targets.items()}
    torch.testing.assert_close(hints.loss(features, scaled), before, rtol=1e-4, atol=1e-6)


def test_a_resolution_without_blocks_on_both_sides_is_refused():
    with pytest.raises(ValueError, match="hint resolution 64 needs a student block at 64 px .* teacher block at 128"):
        TeacherHints({8: 4, 16: 4, 32: 4, 64: 4}, {16: 8, 32: 8, 64: 8}, (64,))
    with pytest.raises(ValueError, match="hint_weight must be >= 0"):
        DISTILL_CONFIGS["tiny"].__class__(hint_weight=-1.0).validate()


@pytest.fixture(scope="module")
def teacher():
    pytest.importorskip("openvino", reason="the teacher extra (pip install -e .[teacher]) is not installed")
    from srnam.models.teacher import MobileStyleGANTeacher

    try:
        return MobileStyleGANTeacher().eval()
    except ModelLoadError as err:
        pytest.skip(str(err))


def test_the_targets_are_the_teachers_blocks_cropped_to_the_framing(teacher):
    student = tiny_student()
    hints = TeacherHints.for_models(student, teacher, (8, 16))
    w = teacher.styles(torch.randn(2, 512, generator=torch.Generator().manual_seed(3)))
    targets = hints.targets(teacher, w)
    assert targets[8].shape == (2, 512, 8, 8) and targets[16].shape == (2, 512, 16, 16)
    names = teacher.block_outputs()
    with torch.no_grad():
        whole = teacher.synthesis_features(w, (names[32],))[names[32]]  # [2, 512, 32, 32], the whole portrait
    # CORPUS_BOX (20, 32, 108, 120) of 128 is rows 8..30, columns 5..27 of the 32-px map, resized to 16
    crop = torch.nn.functional.interpolate(whole[..., 8:30, 5:27], size=16, mode="bicubic", antialias=True)
    torch.testing.assert_close(targets[16], crop)
    assert not torch.allclose(targets[16][0], targets[16][1])  # the styles' own maps


def test_distillation_with_hints_logs_them_and_resumes_exactly(tmp_path, teacher):
    cache = make_cache(tmp_path / "c", 2)
    config = dataclasses.replace(DISTILL_CONFIGS["tiny"], hint_weight=0.5, hint_resolutions=(8, 16))
    train(cache, tmp_path / "a", config)
    train(cache, tmp_path / "b", config, max_steps=4)
    train(cache, tmp_path / "b", config, resume=True)
    lines = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(line["hints"] > 0 for line in lines)
    assert lines[-1]["hints"] < lines[0]["hints"], [line["hints"] for line in lines]  # the adapters learn
    a = load_file(str(tmp_path / "a" / "export" / "generator" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "export" / "generator" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    assert not any("adapter" in key for key in a)  # the export is the student alone
    plain = load_file(str(_plain_run(cache, tmp_path) / "export" / "generator" / "model.safetensors"))
    assert not all(torch.equal(a[key], plain[key]) for key in a)  # the hints moved the student


def _plain_run(cache, tmp_path):
    train(cache, tmp_path / "plain", DISTILL_CONFIGS["tiny"])
    return tmp_path / "plain"
