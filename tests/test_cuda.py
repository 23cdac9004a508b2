"""The search, the pipeline and the trainer on a CUDA device. Skipped without one (CI has none); run on a
GPU machine with ``pytest tests/test_cuda.py`` (benchmarks/cuda_checks.sh does)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_tiny_models
from srnam import SRNAMPipeline
from srnam.search import latent_search
from srnam.training.progan import PROGAN_CONFIGS
from srnam.training.progan import train as train_progan

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _search(device, steps):
    generator, degradation = (m.to(device) for m in make_tiny_models())
    rng = torch.Generator().manual_seed(123)  # test_search's reachable target
    with torch.no_grad():
        target = degradation(generator(torch.randn(2, 32, generator=rng).to(device)),
                             torch.randn(2, 8, generator=rng).to(device))
    return latent_search(generator, degradation, target, num_candidates=4, num_steps=steps, learning_rate=0.2,
                         generator_rng=torch.Generator().manual_seed(0))


def test_search_on_cuda_starts_where_the_cpu_does_and_fits():
    cpu, cuda = _search("cpu", 1), _search("cuda", 1)
    assert cuda.hr.device.type == "cuda" and cuda.latents.device.type == "cuda"
    # The starting latents and noise come from a CPU generator: the same on both devices.
    torch.testing.assert_close(cuda.noise.cpu(), cpu.noise)
    torch.testing.assert_close(cuda.loss_history.cpu(), cpu.loss_history, atol=1e-4, rtol=1e-3)
    # A long search fits on both devices. Rounding differs, so the trajectories do too, and a candidate
    # either finds the target or stalls in a local minimum: compare the best candidate of each image.
    for result in (_search("cpu", 150), _search("cuda", 150)):
        assert result.l1.min(dim=1).values.max() < result.loss_history[0].mean() / 5


def test_pipeline_on_cuda(tmp_path):
    pipe = SRNAMPipeline(*make_tiny_models(), device="cuda")
    face = tmp_path / "face.png"
    Image.effect_noise((48, 48), 60).convert("RGB").save(face)
    out = pipe(face, num_candidates=3, num_steps=20, seed=1)
    assert len(out.hr_candidates) == 3 and out.hr_candidates[0].size == (64, 64)
    assert out.lr_l1 == sorted(out.lr_l1)
    # The same seed gives the same candidates: the search asks cuDNN for deterministic algorithms.
    again = pipe(face, num_candidates=3, num_steps=20, seed=1)
    assert again.lr_l1 == out.lr_l1
    assert [i.tobytes() for i in again.hr_candidates] == [i.tobytes() for i in out.hr_candidates]
    # ... and it leaves torch's settings as they were
    assert torch.backends.cudnn.allow_tf32 and not torch.backends.cudnn.deterministic


def test_progan_trains_on_cuda(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "hr").mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "hr" / f"{i}.png")
    train_progan(tmp_path / "hr", tmp_path / "run", PROGAN_CONFIGS["tiny"])
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["resolution"] == 64 and all(np.isfinite(m["loss_g"]) for m in metrics)
    assert metrics[-1]["mem_mb"] > 0  # the CUDA allocator's peak, which the status line reports
