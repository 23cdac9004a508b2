"""`srnam evaluate` end to end on the three corpus faces of tests/data/faces, with tiny models and 2 steps."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_models

from srnam.evaluation import metrics, run as evaluation
from srnam import SRNAMPipeline, images
from srnam.evaluation.report import markdown_table
from srnam.evaluation.results import EvaluationResult
from srnam.faces.lr_sources import LR_SOURCES
from srnam.commands import main

FACES = Path(__file__).parent / "data" / "faces"
FAST = ["-k", "3", "-n", "2", "--batch-faces", "2", "--faceness", "5"]  # 3 faces in two batches (2 + 1)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    SRNAMPipeline(*make_tiny_models(), device="cpu").save_pretrained(folder)
    return str(folder)


def write_reference_faces(folder: Path) -> Path:
    """Six real faces other than the evaluated files: the test faces mirrored, and brightened."""
    from PIL import Image, ImageEnhance, ImageOps

    folder.mkdir()
    for path in sorted(FACES.glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        ImageOps.mirror(image).save(folder / f"mirrored_{path.stem}.png")
        ImageEnhance.Brightness(image).enhance(1.2).save(folder / f"bright_{path.stem}.png")
    return folder


@pytest.fixture(scope="module")
def full_run(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    reference = write_reference_faces(tmp_path_factory.mktemp("ref") / "faces")
    assert main(["evaluate", str(FACES), "--model", model, "--out", str(out), *FAST,
                 "--reference", str(reference), "--reference-limit", "4"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_evaluate_writes_every_figure(full_run):
    out, results = full_run
    face_metrics = metrics.face_metrics_unavailable() is None
    assert [face["name"] for face in results["faces"]] == ["dev_00000.jpg", "dev_00003.jpg", "dev_00007.jpg"]
    assert results["settings"]["lr_source"] == "degrade" and results["skipped"] == []
    for face in results["faces"]:
        assert len(face["srnam"]["hr_psnr"]) == len(face["srnam"]["lr_l1"]) == 3  # one value per candidate
        assert len(face["diversity"]) == 3 and face["diversity"][0] == 0.0 and face["diversity"][2] > 0
        assert set(face["bicubic"]) == set(face["nearest"]) >= {"hr_psnr", "hr_ssim"}
    srnam = results["summary"]["srnam"]
    for metric in evaluation.METRICS:
        expected = face_metrics or metric.name not in evaluation.FACE_METRICS
        assert all((srnam[stat][metric.name] is not None) == expected for stat in evaluation.STATISTICS), metric.name
        assert srnam["best"][metric.name] == (max if metric.higher_is_better else min)(
            srnam["best"][metric.name], srnam["mean"][metric.name])  # the best is never worse than the mean
    assert results["summary"]["bicubic"]["lr_l1"] is None  # no projection for the baselines
    assert results["summary"]["bicubic"]["hr_psnr"] > 15  # bicubic on 8-bit inputs is a fair face
    assert results["quality_vs_k"]["k"] == [1, 2, 3] and len(results["quality_vs_k"]["srnam"]) == 3
    k1 = results["quality_vs_k"]["srnam"][0]
    per_face = [{m.name: k1[stat][m.name] for m in evaluation.METRICS} for stat in evaluation.STATISTICS]
    assert per_face[0] == per_face[1] == per_face[2] and k1["diversity"] == 0.0  # one candidate: one value
    assert k1["mean"]["sharpness"] == k1["first"]["sharpness"]
    assert len(results["lr_consistency_over_steps"]["mean_l1"]) == 2  # one value per step
    table = (out / "results.md").read_text()
    assert "| SR-NAM K=3, best of K (oracle) |" in table and "| bicubic upsampling |" in table
    assert (out / "lr_consistency.png").is_file() and (out / "quality_vs_k.png").is_file()
    assert set(results["not_computed"]) == (set() if face_metrics else {", ".join(evaluation.FACE_METRICS + ("realism",))})
    summary = results["summary"]
    # Sharpness: each set's Laplacian energy over the ground truth's, recomputed from the per-face values.
    truth = sum(face["truth_laplacian"] for face in results["faces"])
    candidates = sum(sum(face["srnam"]["laplacian"]) / 3 for face in results["faces"])
    assert summary["srnam"]["mean"]["sharpness"] == pytest.approx(candidates / truth, rel=1e-4)
    assert summary["ground_truth"]["sharpness"] == 1.0 and summary["srnam"]["best"]["sharpness"] is None
    assert 0 < summary["bicubic"]["sharpness"] < summary["nearest"]["sharpness"]  # bicubic smooths, nearest has edges
    if face_metrics:  # realism: Fréchet distances of face descriptors to the 4 reference faces
        assert summary["realism_reference_faces"] == 4
        for row in (summary["srnam"]["first"], summary["srnam"]["mean"], summary["bicubic"], summary["ground_truth"]):
            assert row["realism_fd"] > 0
        # the mirrored/brightened reference are the ground truth's own faces: closer than an untrained G's noise
        assert summary["ground_truth"]["realism_fd"] < summary["srnam"]["mean"]["realism_fd"]
        assert "| ground truth |" in table and "Face FD: Fréchet distance" in table
        samples = results["faceness"]
        assert samples["real_faces_at_this_size"] == 2 and samples["reference_faces"] == 4
        assert samples["real_face_fd"] < samples["generator_face_fd"] and samples["generator_sharpness"] > 0
    faceness = results["faceness"]
    assert (faceness["generator_samples"], faceness["ground_truth_faces"]) == (5, 3)
    assert faceness["ground_truth_rate"] == 2 / 3 and faceness["generator_rate"] == 0.0  # untrained G: no faces
    # The candidates' face-ness, per candidate, beside the truth's (the same detector on the same faces)
    assert results["summary"]["ground_truth"]["face_found"] == pytest.approx(2 / 3)
    found = [value for face in results["faces"] for value in face["srnam"]["face_found"]]
    assert len(found) == 9 and set(found) <= {0.0, 1.0}
    assert results["summary"]["srnam"]["mean"]["face_found"] == pytest.approx(sum(found) / 9)
    assert "face-ness ↑" in (out / "results.md").read_text()
    assert "Face-ness: a face is found in 0.0% of 5 random samples" in table
    assert results["timing"]["seconds_per_face"] > 0 and "s per face" in table
    # LR consistency's baseline: the true face projected with K noise draws of its own, averaged per face
    truth = summary["ground_truth"]
    per_face = [sum(face["ground_truth"]["lr_psnr"]) / 3 for face in results["faces"]]
    assert truth["lr_psnr"] == pytest.approx(sum(per_face) / 3, abs=1e-5) and truth["lr_psnr_best"] >= truth["lr_psnr"]
    assert f"with noise of its own, {truth['lr_psnr']:.2f} dB" in table


def test_results_json_reads_back_as_typed_records_and_writes_the_same_layout(full_run):
    out, results = full_run
    typed = EvaluationResult.from_json(results)
    assert typed.to_json() == results  # every key, in the same nesting
    assert list(typed.to_json()) == list(results)  # and the same order
    summary = results["summary"]
    assert typed.summary.srnam.mean.lr_psnr == summary["srnam"]["mean"]["lr_psnr"]
    assert typed.summary.bicubic.realism_fd == summary["bicubic"]["realism_fd"]
    assert typed.faceness.realism.generator_face_fd == results["faceness"]["generator_face_fd"]
    assert [k for k, _ in typed.quality_vs_k] == [1, 2, 3] and typed.quality_vs_k[0][1].diversity == 0.0
    with pytest.raises(AttributeError):
        typed.summary.srnam.mean.lr_psnr_mean  # a misspelt figure fails where it is read
    assert markdown_table(typed) == (out / "results.md").read_text().rstrip("\n")  # the report reads the records


def test_the_truths_lr_fit_uses_noise_of_its_own(model):
    """With the input made by the draw of candidate 0, candidate 0's fit is perfect (capped) and the others' is not:
    the seeds are per face and candidate, and the projection is rounded to 8 bits as the input is."""
    degradation = SRNAMPipeline.from_pretrained(model, device="cpu").degradation
    names, hr, *_ = evaluation.load_faces(FACES, "corpus")
    seeds = [evaluation.image_seed(0, f"truth projection 0: {name}") for name in names]
    lr = images.round_to_8bit(images.to_unit_range(degradation.photograph(hr, seeds))) * 2 - 1
    fit = evaluation.truth_lr_psnr(degradation, hr, lr, names, 3, seed=0)
    assert fit.shape == (3, 3)
    assert torch.all(fit[:, 0] == images.PSNR_CAP_DB) and torch.all(fit[:, 1:] < images.PSNR_CAP_DB)


def test_without_the_metrics_extra_it_reports_what_it_cannot_compute(model, tmp_path, monkeypatch, capsys):
    for module in ("dlib", "face_recognition_models", "matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, module, None)  # `import dlib` now raises ImportError
    metrics.dlib_models.cache_clear()
    try:
        assert main(["evaluate", str(FACES), "--model", model, "--out", str(tmp_path), "--limit", "1", *FAST]) == 0
    finally:
        metrics.dlib_models.cache_clear()  # let later tests load the real models
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    reasons = results["not_computed"]
    assert set(reasons) == {", ".join(evaluation.FACE_METRICS + ("realism",)), "plots"}
    assert all("pip install -e .[metrics]" in reason for reason in reasons.values())
    assert "not computed: plots" in printed and "n/a" in (tmp_path / "results.md").read_text()
    assert results["summary"]["srnam"]["mean"]["identity_distance"] is None
    assert results["summary"]["srnam"]["mean"]["hr_psnr"] is not None  # the rest is still measured
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("source", LR_SOURCES)
def test_lr_inputs_are_8_bit_and_seeded_per_face(source):
    names, hr, *_ = evaluation.load_faces(FACES, "corpus")
    degradation = make_tiny_models()[1]
    lr = evaluation.make_lr_inputs(hr, names, source, degradation, seed=5)
    assert lr.shape == (3, 3, 16, 16) and lr.min() >= -1 and lr.max() <= 1
    assert torch.allclose(((lr + 1) * 127.5).round(), (lr + 1) * 127.5, atol=1e-4)  # whole 8-bit levels
    # A face gets the same input alone as among others (seeded by its name, not its position).
    assert torch.equal(evaluation.make_lr_inputs(hr[1:2], names[1:2], source, degradation, seed=5), lr[1:2])
    if source not in ("bicubic", "area"):  # the deterministic resamplings have no random part
        assert not torch.equal(evaluation.make_lr_inputs(hr, names, source, degradation, seed=6), lr)


def test_load_faces_framing_limit_and_unreadable_files(tmp_path):
    for path in sorted(FACES.glob("*.jpg")):
        shutil.copy(path, tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    names, hr, skipped, framing = evaluation.load_faces(tmp_path, "centre", limit=2)
    assert names == ["dev_00000.jpg", "dev_00003.jpg"] and hr.shape == (2, 3, 64, 64) and framing == []
    assert skipped[0]["name"] == "broken.png" and "not an image" in skipped[0]["reason"]
    corpus = evaluation.load_faces(tmp_path, "corpus", limit=1)[1]
    assert not torch.equal(corpus, hr[:1])  # corpus framing is a tighter crop than the whole image
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable images"):
        evaluation.load_faces(tmp_path / "empty", "centre")


def test_usage_errors(model, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing"), "--model", model]) == 2
    assert main(["evaluate", str(FACES), "--model", str(tmp_path / "no-model")]) == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects it with its usage message
        main(["evaluate", str(FACES), "--model", model, "-k", "0"])
    assert exit_info.value.code == 2 and "must be between 1 and 64" in capsys.readouterr().err
    assert main(["evaluate", str(FACES), "--model", model, "--reference", str(FACES)]) == 2
    assert "disjoint" in capsys.readouterr().err


def test_optimize_noise_and_its_learning_rate(model, tmp_path, capsys):
    runs = {}
    for name, flags in (("fixed", []), ("searched", ["--optimize-noise", "--noise-lr", "0.1"])):
        assert main(["evaluate", str(FACES), "--model", model, "--out", str(tmp_path / name), "--limit", "1",
                     "--faceness", "0", *FAST, *flags]) == 0
        runs[name] = json.loads((tmp_path / name / "results.json").read_text())
    settings = runs["searched"]["settings"]
    assert settings["optimize_noise"] is True and settings["noise_learning_rate"] == 0.1
    assert runs["fixed"]["settings"]["noise_learning_rate"] == 0.05  # recorded, though unused without the flag
    # the searched noise changes the projections, hence the LR figures
    assert runs["searched"]["summary"]["srnam"]["mean"]["lr_l1"] != runs["fixed"]["summary"]["srnam"]["mean"]["lr_l1"]
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(FACES), "--model", model, "--optimize-noise", "--noise-lr", "0"])
    assert exit_info.value.code == 2 and "must be a number in (0, 100], got 0" in capsys.readouterr().err


def test_real_lfw_faces_are_evaluated(model, tmp_path, capsys):
    pytest.importorskip("skimage", reason="the LFW faces come with scikit-image (the metrics extra)")
    names, hr, skipped, _ = evaluation.load_lfw_faces()
    assert len(names) == 100 and hr.shape == (100, 3, 64, 64) and not skipped and names[0] == "lfw_000"
    assert (hr[:, 0] == hr[:, 1]).all() and hr.std() > 0.2  # grey photos, not blank ones
    out = tmp_path / "lfw"
    assert main(["evaluate", "--real", "lfw", "--lr-source", "area", "--limit", "2", "--model", model,
                 "--out", str(out), *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["hr_folder"] == "real:lfw" and results["settings"]["lr_source"] == "area"
    assert [face["name"] for face in results["faces"]] == ["lfw_000", "lfw_001"]
    assert main(["evaluate", str(FACES), "--real", "lfw", "--model", model]) == 2
    assert main(["evaluate", "--model", model]) == 2
    assert "give HR_FOLDER or --real" in capsys.readouterr().err
    names, hr, *_ = evaluation.load_real_faces("astronaut")
    assert names == ["astronaut"] and hr.shape == (1, 3, 64, 64) and (hr[:, 0] != hr[:, 2]).any()  # in colour


def test_the_area_lr_source_is_a_4x_box_reduction():
    hr = torch.zeros(1, 3, 64, 64)
    hr[..., :, 32:] = 1.0
    (lr,) = evaluation.make_lr_inputs(hr, ["x"], "area", make_tiny_models()[1], 0)
    assert lr.shape == (3, 16, 16) and set(((lr[0] + 1) * 127.5).round().ravel().tolist()) == {128, 255}  # 127.5 ↑


def test_a_pose_tilts_each_face_by_its_own_seeded_angle_and_checks_its_range():
    from srnam.faces.pose import Pose, tilted

    pose = Pose(rotate=(10, 40), seed=3)
    angles = [pose.angle(f"face_{i}") for i in range(40)]
    assert all(10 <= abs(a) <= 40 for a in angles) and min(angles) < 0 < max(angles)  # either way
    assert pose.angle("face_7") == angles[7] and Pose(rotate=(10, 40), seed=4).angle("face_7") != angles[7]
    assert Pose().angle("face_7") == 0.0 and Pose().upright and not pose.upright
    with pytest.raises(ValueError, match="0 <= smallest <= largest <= 90"):
        Pose(rotate=(40, 10))
    from PIL import Image

    photo = Image.open(FACES / "dev_00000.jpg").convert("RGB")
    box = (20, 32, 108, 120)
    assert tilted(photo, box, 0.0).tobytes() == photo.tobytes()
    turned = np.asarray(tilted(photo, box, 30.0), np.float32)
    assert turned.shape == (128, 128, 3) and turned.min(axis=2).max() > 40  # mirrored photo, no black corners
    assert np.abs(np.asarray(tilted(tilted(photo, box, 30.0), box, -30.0), np.float32)[40:110, 40:110]
                  - np.asarray(photo, np.float32)[40:110, 40:110]).mean() < 4  # the centre comes back


def test_aligned_evaluation_turns_tilted_corpus_faces_back_upright(tmp_path):
    from srnam.faces.pose import Pose, framing_summary

    tilted_faces = evaluation.load_faces(FACES, "corpus", pose=Pose(rotate=(25, 35)))
    aligned = evaluation.load_faces(FACES, "corpus", pose=Pose(align=True, rotate=(25, 35)))
    assert aligned.hr.shape == tilted_faces.hr.shape == (3, 3, 64, 64)
    assert [r["angle"] for r in aligned.framing] == [r["angle"] for r in tilted_faces.framing]  # the same tilts
    assert all(r["framing_angle"] == 0 and not r["aligned"] for r in tilted_faces.framing)
    summary = framing_summary(aligned.framing, Pose(align=True, rotate=(25, 35)))
    assert 25 <= summary["mean_abs_angle"] <= 35 and summary["mean_abs_residual_tilt"] < 5  # turned back
    unaligned_db = framing_summary(tilted_faces.framing, Pose(rotate=(25, 35)))["framing_psnr"]
    assert summary["framing_psnr"] > unaligned_db + 4, (summary["framing_psnr"], unaligned_db)


def test_evaluate_align_and_rotate_options_record_the_framing(model, tmp_path, capsys):
    out = tmp_path / "posed"
    assert main(["evaluate", str(FACES), "--align", "--rotate", "10,40", "--model", model, "--out", str(out),
                 *FAST]) == 0
    printed = capsys.readouterr().out
    assert "Framing: aligned onto the corpus's landmarks; each HR face tilted first by 10° to 40° either way" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["align"] is True and results["settings"]["rotate"] == [10, 40]
    framing = results["framing"]
    assert [r["name"] for r in framing["faces"]] == [face["name"] for face in results["faces"]]
    assert all(10 <= abs(r["angle"]) <= 40 and r["aligned"] for r in framing["faces"]) and framing["framing_psnr"] > 15
    assert main(["evaluate", str(FACES), "--model", model, "--out", str(tmp_path / "plain"), *FAST]) == 0
    assert "framing" not in json.loads((tmp_path / "plain" / "results.json").read_text())
    assert "Framing:" not in capsys.readouterr().out  # the long-standing default is unchanged
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(FACES), "--rotate", "40,10"])
    assert exit_info.value.code == 2 and "rotate must be two angles 0 <= smallest <= largest <= 90 degrees, got 40, 10" in capsys.readouterr().err
    assert main(["evaluate", "--real", "astronaut", "--rotate", "10,20", "--model", model]) == 2
    assert "--rotate tilts corpus portraits" in capsys.readouterr().err


def test_real_faces_can_be_aligned():
    pytest.importorskip("skimage", reason="the real faces come with scikit-image (the metrics extra)")
    from srnam.faces.pose import Pose

    plain = evaluation.load_lfw_faces(limit=3)
    aligned = evaluation.load_lfw_faces(limit=3, pose=Pose(align=True))
    assert aligned.hr.shape == plain.hr.shape == (3, 3, 64, 64) and not torch.equal(aligned.hr, plain.hr)
    assert [r["name"] for r in aligned.framing] == plain.names and all("framing_psnr" not in r for r in aligned.framing)
    assert all(15 < r["framing_side"] < 35 for r in aligned.framing)  # about the 25-px photo, eyebrows to chin
    astronaut = evaluation.load_real_faces("astronaut", pose=Pose(align=True))
    assert astronaut.hr.shape == (1, 3, 64, 64) and abs(astronaut.framing[0]["framing_angle"]) < 10


def test_old_spellings_of_the_lr_source_and_the_crop_are_read_and_recorded_as_the_new(model, tmp_path):
    assert main(["evaluate", str(FACES), "--model", model, "--lr-source", "degradation", "--crop", "none", "--limit",
                 "1", "-k", "1", "-n", "1", "--faceness", "0", "--out", str(tmp_path / "out")]) == 0
    settings = json.loads((tmp_path / "out" / "results.json").read_text())["settings"]
    assert settings["lr_source"] == "degrade" and settings["crop"] == "centre"


def test_an_interrupted_evaluation_resumes_from_its_finished_batches(model, tmp_path, capsys, monkeypatch):
    args = ["evaluate", str(FACES), "--model", model, "--faceness", "0", *FAST]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert not (tmp_path / "whole" / "unfinished").exists()  # removed once the results are written

    searched = []
    real_search = evaluation.search_and_score

    def stopped_at_the_second_batch(*a, **kw):
        index = a[6]
        searched.append(index)
        if index == 1:
            raise KeyboardInterrupt  # a Ctrl-C, or the machine going away, in the middle of batch 1
        return real_search(*a, **kw)

    monkeypatch.setattr(evaluation, "search_and_score", stopped_at_the_second_batch)
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--out", str(out)])
    assert searched == [0, 1] and sorted(p.name for p in (out / "unfinished").iterdir()) == [
        "batch_00000.json", "batch_00000.safetensors", "settings.json"]
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2  # without --resume its batches are neither lost nor mixed in
    assert "holds an unfinished evaluation (1 batches done): pass --resume" in capsys.readouterr().err
    assert main([*args[:-6], "-k", "3", "-n", "3", "--batch-faces", "2", "--out", str(out), "--resume"]) == 2
    assert "made with other settings (num_steps differ)" in capsys.readouterr().err

    monkeypatch.setattr(evaluation, "search_and_score", real_search)
    searched.clear()
    assert main([*args, "--out", str(out), "--resume"]) == 0
    assert "resuming: 1 batches of 2 faces were done before" in capsys.readouterr().out
    resumed = json.loads((out / "results.json").read_text())
    assert not (out / "unfinished").exists()
    for key in ("summary", "faces", "quality_vs_k", "lr_consistency_over_steps"):
        assert resumed[key] == whole[key], key  # the same figures as the uninterrupted run


def test_the_weights_digest_tells_models_apart():
    from srnam.evaluation.progress import weights_digest

    first, second = make_tiny_models(), make_tiny_models()
    assert weights_digest(*first) == weights_digest(*second)  # same seed, same weights
    with torch.no_grad():
        next(second[0].parameters()).view(-1)[0] += 1e-6
    assert weights_digest(*first) != weights_digest(*second)
