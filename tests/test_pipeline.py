import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from srnam import InvalidImageError, ModelLoadError, SRNAMOutput, SRNAMPipeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pipe(tiny_models):
    return SRNAMPipeline(*tiny_models, device="cpu")


@pytest.fixture
def face(tmp_path):
    path = tmp_path / "face.png"
    Image.effect_noise((48, 48), 60).convert("RGB").save(path)
    return path


def _same_output(a: SRNAMOutput, b: SRNAMOutput) -> bool:
    return (a.lr_l1 == b.lr_l1 and [i.tobytes() for i in a.hr_candidates] == [i.tobytes() for i in b.hr_candidates]
            and [i.tobytes() for i in a.lr_projections] == [i.tobytes() for i in b.lr_projections])


def test_call_returns_sorted_candidates(pipe, face):
    out = pipe(face, num_candidates=3, num_steps=5, seed=1)
    assert out.lr_input.size == (16, 16) and out.seed == 1
    assert [im.size for im in out.hr_candidates] == [(64, 64)] * 3
    assert [im.size for im in out.lr_projections] == [(16, 16)] * 3
    assert out.lr_l1 == sorted(out.lr_l1) and len(out.loss_history) == 3 and len(out.loss_history[0]) == 5
    assert out.latents.shape == (3, 32)


def test_same_seed_same_images_any_input_type(pipe, face):
    a = pipe(face, num_candidates=2, num_steps=4, seed=3)
    b = pipe(Image.open(face), num_candidates=2, num_steps=4, seed=3)
    assert _same_output(a, b)
    c = pipe(face, num_candidates=2, num_steps=4, seed=4)
    assert not _same_output(a, c)
    random_seed = pipe(face, num_candidates=1, num_steps=1)
    assert isinstance(random_seed.seed, int)
    tensor = torch.from_numpy(__import__("numpy").array(a.lr_input)).permute(2, 0, 1).float() / 255
    assert _same_output(pipe(tensor, num_candidates=2, num_steps=4, seed=3), a)


def test_a_list_of_images_is_searched_as_one_batch(pipe, face, tmp_path):
    other = tmp_path / "other.png"
    Image.effect_noise((16, 16), 90).convert("RGB").save(other)
    shapes = []
    outs = pipe([face, other], num_candidates=3, num_steps=4, seed=2, callback=lambda s: shapes.append(s.l1.shape))
    assert isinstance(outs, list) and len(outs) == 2 and shapes == [(2, 3)] * 4  # one search, both images
    for out in outs:
        assert out.lr_l1 == sorted(out.lr_l1) and sorted(out.search_index) == [0, 1, 2] and out.seed == 2
    assert outs[0].lr_input.tobytes() != outs[1].lr_input.tobytes()
    assert _same_output(pipe([face], num_candidates=3, num_steps=4, seed=2)[0], pipe(face, num_candidates=3,
                                                                                      num_steps=4, seed=2))
    with pytest.raises(ValueError, match="no images given"):
        pipe([], num_steps=1)


def test_pt_output_is_the_pil_output_before_rounding(pipe, face):
    from srnam.images import lr_psnr, round_to_8bit

    pil = pipe(face, num_candidates=2, num_steps=3, seed=5)
    pt = pipe(face, num_candidates=2, num_steps=3, seed=5, output_type="pt")
    assert pt.hr_candidates.shape == (2, 3, 64, 64) and pt.lr_projections.shape == (2, 3, 16, 16)
    assert pt.lr_input.shape == (3, 16, 16) and 0 <= pt.hr_candidates.min() and pt.hr_candidates.max() <= 1
    as_bytes = lambda x: (round_to_8bit(x) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy().tobytes()  # noqa: E731
    assert [as_bytes(x) for x in pt.hr_candidates] == [i.tobytes() for i in pil.hr_candidates]
    assert as_bytes(pt.lr_input) == pil.lr_input.tobytes() and pt.lr_l1 == pil.lr_l1
    assert lr_psnr(pt) == pytest.approx(lr_psnr(pil))
    with pytest.raises(ValueError, match="output_type must be 'pil' or 'pt', got 'np'"):
        pipe(face, num_steps=1, output_type="np")


def test_the_search_method_is_the_latent_search_in_search_order_and_call_sorts_it(pipe, face):
    from srnam import SearchSettings
    from srnam.images import lr_tensor
    from srnam.search import latent_search

    settings = SearchSettings(num_candidates=4, num_steps=3, seed=9)
    found = pipe.search(pipe.prepare([face]), settings)  # unsorted: the candidates as the search ran them
    direct = latent_search(pipe.generator, pipe.degradation, lr_tensor(face), num_candidates=4, num_steps=3,
                           generator_rng=torch.Generator().manual_seed(9))
    assert torch.equal(found.l1, direct.l1) and torch.equal(found.loss_history, direct.loss_history)
    assert torch.equal(found.hr, direct.hr)
    out = pipe(face, num_candidates=4, num_steps=3, seed=9, output_type="pt")
    assert out.search_index == found.l1[0].argsort().tolist() and out.lr_l1 == sorted(found.l1[0].tolist())
    assert torch.equal(out.hr_candidates, (found.hr[0, out.search_index].clamp(-1, 1) + 1) / 2)
    with pytest.raises(ValueError, match="num_steps must be between 1 and 10000, got 0"):
        pipe.search(pipe.prepare([face]), SearchSettings(num_steps=0))  # the door checks what comes through it


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_candidates": 0}, ValueError, "num_candidates must be between 1 and 64, got 0"),
    ({"num_candidates": 65}, ValueError, "num_candidates must be between 1 and 64, got 65"),
    ({"num_candidates": 2.5}, TypeError, "num_candidates must be an integer"),
    ({"num_steps": 0}, ValueError, "num_steps must be between 1 and 10000, got 0"),
    ({"learning_rate": -1.0}, ValueError, r"learning_rate must be a number in \(0, 100\], got -1.0"),
    ({"learning_rate": 101.0}, ValueError, r"learning_rate must be a number in \(0, 100\]"),
    ({"noise_learning_rate": 0.0}, ValueError, r"noise_learning_rate must be a number in \(0, 100\], got 0.0"),
    ({"seed": -5}, ValueError, "seed must be between 0"),
])
def test_out_of_range_arguments(pipe, face, kwargs, error, message):
    with pytest.raises(error, match=message):
        pipe(face, **{"num_steps": 1, **kwargs})


def test_bad_images_through_the_pipeline(pipe, tmp_path):
    text = tmp_path / "x.jpg"
    text.write_bytes(b"GIF89a nonsense")
    with pytest.raises(InvalidImageError, match="not an image file"):
        pipe(text, num_steps=1)
    with pytest.raises(InvalidImageError, match="too small"):
        pipe(Image.new("RGB", (1, 1)), num_steps=1)
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))  # documented conversion: white
    assert pipe(rgba, num_candidates=1, num_steps=1).lr_input.getpixel((3, 3)) == (255, 255, 255)


def test_save_and_load_round_trip(pipe, face, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "pipe", training_data="Six random noise images.")
    for part in ("generator", "degradation"):
        assert (folder / part / "config.json").is_file() and (folder / part / "model.safetensors").is_file()
    card = (folder / "README.md").read_text()
    assert "invented, not recovered" in card and "Six random noise images." in card and "Bias" in card
    assert json.loads((folder / "generator" / "config.json").read_text()) == {"latent_size": 32, "channels": [16, 16, 8, 8, 4]}
    loaded = SRNAMPipeline.from_pretrained(folder, device="cpu")
    assert _same_output(pipe(face, 2, 3, seed=0), loaded(face, 2, 3, seed=0))
    assert loaded.model_card == card
    # re-saving keeps the loaded card
    loaded.save_pretrained(tmp_path / "again")
    assert (tmp_path / "again" / "README.md").read_text() == card


def test_card_figures_travel_with_the_card(pipe, tmp_path):
    pipe.card_assets = {"search_examples.png": b"figure bytes", "evaluation.json": b"{}"}
    pipe.save_pretrained(tmp_path / "pipe", sections="## Examples\n\n![search](search_examples.png)")
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert card.index("## Examples") < card.index("## Intended use")  # after the samples, before the use
    loaded = SRNAMPipeline.from_pretrained(tmp_path / "pipe", device="cpu")
    assert loaded.card_assets == pipe.card_assets  # samples.png is not an asset: it is redrawn
    loaded.save_pretrained(tmp_path / "again")
    assert (tmp_path / "again" / "search_examples.png").read_bytes() == b"figure bytes"
    assert (tmp_path / "again" / "README.md").read_text() == card


def test_from_pretrained_without_a_repo_id_loads_the_shipped_default(face):
    pipe = SRNAMPipeline.from_pretrained(device="cpu")
    assert (pipe.generator.resolution, pipe.degradation.lr_size) == (64, 16)
    assert "faces128" in pipe.model_card and {"degradation_examples.png", "search_examples.png"} <= set(pipe.card_assets)
    out = pipe(face, num_candidates=2, num_steps=3, seed=0)
    assert len(out.hr_candidates) == 2 and out.hr_candidates[0].size == (64, 64)


def test_from_pretrained_says_where_the_default_should_be(monkeypatch, tmp_path):
    from srnam import pipeline

    monkeypatch.setattr(pipeline, "DEFAULT_CHECKPOINT", tmp_path / "checkpoints" / "default")
    with pytest.raises(ModelLoadError, match=r"shipped default models are not at .*checkpoints/default.*pip install -e"):
        SRNAMPipeline.from_pretrained()


def test_missing_parts_and_mismatched_weights(pipe, tmp_path):
    folder = pipe.save_pretrained(tmp_path / "p")
    (folder / "degradation" / "model.safetensors").rename(tmp_path / "d.safetensors")
    with pytest.raises(ModelLoadError, match="DegradationGenerator: missing model.safetensors"):
        SRNAMPipeline.from_pretrained(folder)
    with pytest.raises(ModelLoadError, match="has no generator/ folder"):
        SRNAMPipeline.from_pretrained(folder / "degradation")
    (tmp_path / "d.safetensors").rename(folder / "degradation" / "model.safetensors")

    config = folder / "generator" / "config.json"
    config.write_text(json.dumps({"latent_size": 32, "channels": [16, 16, 8, 8, 8]}))
    with pytest.raises(ModelLoadError, match=r"does not match .*config.json: .*shape mismatch.*\(8, 8, 3, 3\)"):
        SRNAMPipeline.from_pretrained(folder)
    config.write_text(json.dumps({"latent_size": 32, "channels": [16, 16, 8, 8]}))
    with pytest.raises(ModelLoadError, match="unexpected tensor"):
        SRNAMPipeline.from_pretrained(folder)
    config.write_text("{not json")
    with pytest.raises(ModelLoadError, match="invalid .*config.json"):
        SRNAMPipeline.from_pretrained(folder)
    config.write_text(json.dumps({"latent_size": 32, "channels": [16, 16, 8, 8, 4]}))

    weights = folder / "generator" / "model.safetensors"
    state = load_file(weights)
    del state["to_rgb.4.bias"]
    save_file(state, weights)
    with pytest.raises(ModelLoadError, match="missing from the weights, e.g. to_rgb.4.bias"):
        SRNAMPipeline.from_pretrained(folder)
    weights.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        SRNAMPipeline.from_pretrained(folder)
    with pytest.raises(ModelLoadError, match="is a file"):
        SRNAMPipeline.from_pretrained(config)


def test_push_to_hub_then_from_pretrained(hub, pipe, face, tmp_path):
    repo_id = f"tester/srnam-{uuid.uuid4().hex[:8]}"
    url = pipe.push_to_hub(repo_id, training_data="Noise.")
    assert repo_id in url
    loaded = SRNAMPipeline.from_pretrained(repo_id, cache_dir=tmp_path / "cache", device="cpu")
    assert _same_output(pipe(face, 2, 3, seed=5), loaded(face, 2, 3, seed=5))
    assert "Noise." in loaded.model_card
    assert any(path.startswith(f"/{repo_id}/resolve/") for _, path in hub.requests)

    # a second push is a new revision; the first stays loadable by its commit sha
    first = url.rstrip("/").split("/")[-1]
    torch.manual_seed(9)
    for p in pipe.generator.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    pipe.push_to_hub(repo_id)
    old = SRNAMPipeline.from_pretrained(repo_id, revision=first, cache_dir=tmp_path / "cache")
    assert _same_output(old(face, 1, 2, seed=0), loaded(face, 1, 2, seed=0))
    new = SRNAMPipeline.from_pretrained(repo_id, cache_dir=tmp_path / "cache")
    assert not _same_output(new(face, 1, 2, seed=0), loaded(face, 1, 2, seed=0))


def test_hub_errors(hub, tmp_path):
    with pytest.raises(ModelLoadError, match="no local folder tester/nope-123 and no Hub repo"):
        SRNAMPipeline.from_pretrained("tester/nope-123", cache_dir=tmp_path)
    repo_id = f"tester/empty-{uuid.uuid4().hex[:8]}"
    hub.commit_files(repo_id, {"README.md": b"# nothing here\n"})
    with pytest.raises(ModelLoadError, match="has no revision 'v9'"):
        SRNAMPipeline.from_pretrained(repo_id, revision="v9", cache_dir=tmp_path)
    with pytest.raises(ModelLoadError, match="is not an SR-NAM pipeline: it has no generator/ folder"):
        SRNAMPipeline.from_pretrained(repo_id, cache_dir=tmp_path)
    with pytest.raises(ModelLoadError, match="neither a local folder nor a valid Hub repo id"):
        SRNAMPipeline.from_pretrained("a/b/c/d")
    with pytest.raises(ModelLoadError, match="no cached copy"):
        SRNAMPipeline.from_pretrained(f"tester/never-{uuid.uuid4().hex[:8]}", local_files_only=True,
                                      cache_dir=tmp_path)


def test_offline_mode_uses_cache_or_says_why(hub, pipe, tmp_path):
    """HF_HUB_OFFLINE is read when huggingface_hub is imported, so this runs in a fresh interpreter."""
    repo_id = f"tester/cached-{uuid.uuid4().hex[:8]}"
    pipe.push_to_hub(repo_id)
    SRNAMPipeline.from_pretrained(repo_id, cache_dir=tmp_path / "cache")  # fills the cache
    script = (
        "import sys\nfrom srnam import SRNAMPipeline, ModelLoadError\n"
        f"SRNAMPipeline.from_pretrained({repo_id!r}, cache_dir={str(tmp_path / 'cache')!r})\n"
        "try:\n"
        f"    SRNAMPipeline.from_pretrained('tester/not-cached', cache_dir={str(tmp_path / 'cache')!r})\n"
        "except ModelLoadError as err:\n    print('ERROR:', err)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ERROR: cannot download 'tester/not-cached'" in result.stdout
    assert "offline mode is on (HF_HUB_OFFLINE=1" in result.stdout


def test_weights_are_never_unpickled():
    """Model weights come from safetensors; the only torch.load is the restricted weights_only one."""
    for path in (ROOT / "srnam").rglob("*.py"):
        for line in path.read_text().splitlines():
            assert "import pickle" not in line, path
            assert "torch.load(" not in line or "weights_only=True" in line, (path, line)
