"""The benchmark scripts run end to end (a step or two, on the shipped models) and print what the
benchmarks page quotes. They time nothing here: their figures come from real runs (benchmarks/README.md)."""
import re
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _run(script, *args):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_search_throughput_prints_every_configuration_and_the_ratios():
    out = _run("search_throughput.py", "--ks", "1,2", "--sequential-k", "2", "--steps", "1", "--rounds", "1",
               "--matmul-size", "256", "--threads", "2")
    assert "0.46 GFLOP per candidate-step" in out  # the shipped checkpoints/default (the style student)
    rows = [line for line in out.splitlines() if line.startswith(("| batched", "| sequential"))]
    assert [row.split("|")[1].strip() for row in rows] == ["batched K=1", "batched K=2", "sequential K=2"]
    # ms per step; memory: the CPU's fresh process that ran the search, or CUDA's allocator peak
    memory_pattern = r"\d+ \(allocator peak\)" if torch.cuda.is_available() else r"\d+ \(search: \+\d+\)"
    for row in rows:
        ms, memory = float(row.split("|")[2].split()[0]), row.split("|")[7]
        assert ms > 0 and re.search(memory_pattern, memory), row
    assert re.search(r"batched / sequential, candidate-steps per second: K=1 [\d.]+×, K=2 [\d.]+×", out)

    refused = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "search_throughput.py"), "--sequential-k", "0"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--sequential-k must be at least 1, got 0" in refused.stderr  # not a ZeroDivisionError


def test_search_variants_prints_times_and_errors_against_float64():
    out = _run("search_variants.py", "--variants", "float32,nchw,channels_last,float16", "--ks", "1",
               "--steps", "1", "--rounds", "1", "--quality-steps", "3")
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| variant")}
    # Skipped: the device's own layout (float32 has it) and, on the CPU, float16 (CUDA only)
    expected = ["channels_last", "float16", "float32"] if torch.cuda.is_available() else ["float32", "nchw"]
    assert sorted(rows) == expected
    for name, (warm_up, ms, hr_error, grad_error, final_l1) in rows.items():
        assert float(ms) > 0 and float(final_l1) > 0
        if name != "float16":  # float32's rounding only
            assert float(hr_error) < 1e-4 and float(grad_error) < 1e-2, (name, hr_error, grad_error)


def test_profile_search_lists_the_costliest_operators():
    out = _run("profile_search.py", "--k", "2", "--steps", "1", "--rows", "5", "--by-shape")
    # every row of the table, whatever the operator's name (aten::…, autograd's nodes, Optimizer.step#…)
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ") and not line.startswith("| operator")]
    assert len(rows) == 5
    # convolutions (the student's depthwise 3×3s, the camera) or matmuls (its mapping and pointwise weights) lead;
    # which of them comes first varies with the machine's load
    assert any(op in row[1] for row in rows for op in ("convolution", "mm")), [row[1] for row in rows]
    # by shape: a convolution's input holds the K = 2 candidates, as the batch or (the camera's per-candidate blur,
    # a grouped conv) as 2 × 3 channels of one image; the blur can reach the top rows when the machine is loaded
    assert all(float(row[2]) > 0 and ("[[2, " in row[5] or "[[1, 6, " in row[5])
               for row in rows if row[1].strip().startswith("aten::conv")), [row[5] for row in rows]


def test_training_speed_prints_every_adversarial_variant_and_its_ratio():
    out = _run("training_speed.py", "--adversarial-variants", "--progan-config", "tiny", "--images", "160")
    rows = re.findall(r"^  (.+?)\s+([\d.]+) img/s\s+([\d.]+)×$", out, flags=re.M)
    assert [name for name, _, _ in rows] == ["float32, penalty every step", "float32, lazy penalty (every 4th)",
                                             "bfloat16, penalty every step", "bfloat16, lazy penalty (every 4th)",
                                             "bfloat16, lazy penalty (every 8th)"]
    assert rows[0][2] == "1.00" and all(float(img_s) > 0 for _, img_s, _ in rows)


def test_crowd_detection_prints_recall_per_face_size_and_precision():
    faces = ROOT / "tests" / "data" / "faces"
    out = _run("crowd_detection.py", str(faces), "--photos", "1", "--faces", "8", "--thresholds=-0.6,0")
    assert "photos 0-0: 8 faces placed" in out
    rows = {line.split("%")[0].rsplit(None, 1)[0].strip(): line for line in out.splitlines() if "%" in line}
    assert set(rows) == {"hog +0.0", "hog -0.6 *", "detect_faces", "haar"}, rows
    for row in rows.values():  # 8 sizes, precision, framing IoU, seconds
        cells = row.replace(" *", "").split()[-11:]
        assert all(c.endswith("%") for c in cells[:9]) and 0 <= float(cells[9]) <= 1 and float(cells[10]) > 0
    assert "offset of the default's matched faces" in out


def test_whole_photo_times_both_ways_measures_the_seam_and_draws_the_figure(tmp_path):
    out = _run("whole_photo.py", "-k", "2", "-n", "2", "--rounds", "1", "--figure", str(tmp_path / "figure.png"))
    assert "8 faces found (of 8)" in out  # the demo's crowd, on the shipped checkpoints/default
    seconds = {name.strip(): float(value.split()[0].rstrip("×")) for name, value in
               (line.split(":", 1) for line in out.splitlines() if line.endswith((" s", "×")))}
    assert set(seconds) == {"whole photo (detect, search, compose)", "its detection alone", "its search alone",
                            "one face at a time", "one at a time / batched search"} and all(v > 0 for v in seconds.values())
    seams = re.findall(r"ring outside each (face box|searched square)[^:]*: mean ([0-9.]+) levels", out)
    assert [kind for kind, _ in seams] == ["face box", "searched square"] and float(seams[1][1]) == 0.0  # nothing moves outside
    from PIL import Image

    assert Image.open(tmp_path / "figure.png").width == 4 + 6 * (128 + 4)  # six faces, three rows each


def test_whole_photo_realism_prints_the_face_fd_of_truth_bicubic_and_srnam(tmp_path):
    faces = ROOT / "tests" / "data" / "faces"
    reference = tmp_path / "reference"  # other files than the portraits' (the script refuses the same folder)
    reference.mkdir()
    for portrait in sorted(faces.glob("*.jpg")):
        (reference / portrait.name).write_bytes(portrait.read_bytes())
    out = _run("whole_photo_realism.py", str(faces), "--reference", str(reference), "--reference-limit", "3",
               "--photos", "1", "--faces", "3", "--sizes", "36,44", "-k", "2", "-n", "2",
               "--figure", str(tmp_path / "faces.png"), "--json", str(tmp_path / "figures.json"))
    found = int(re.search(r"(\d) of 3 faces found and scored", out).group(1))
    assert found >= 2
    rows = {line.rsplit(None, 3)[0].strip(): line.split()[-3:] for line in out.splitlines() if line.endswith("%")}
    assert set(rows) == {"truth (the floor)", "bicubic", "SR-NAM, first candidate", "SR-NAM, mean over k",
                         "as pasted, first candidate", "as pasted, mean over k"}
    assert float(rows["truth (the floor)"][0]) < 0.01  # the truth is the reference here
    assert "SR-NAM's first candidate against bicubic:" in out and "first candidate as pasted against bicubic" in out
    import json
    from PIL import Image

    assert json.loads((tmp_path / "figures.json").read_text())["faces"] == found
    assert Image.open(tmp_path / "faces.png").width == 4 + found * (96 + 4)  # one column per face


def test_noise_search_prints_each_source_and_rate():
    out = _run("noise_search.py", str(ROOT / "tests" / "data" / "faces"), "--faces", "2", "--rates", "0.05,0.4",
               "-k", "2", "-n", "2")
    rows = [line.split("|") for line in out.splitlines() if line.startswith(("| degrade", "| synthetic"))]
    assert [(r[1].strip(), r[2].strip()) for r in rows] == [
        (source, search) for source in ("degrade", "synthetic")
        for search in ("noise fixed", "noise searched, lr 0.05", "noise searched, lr 0.4")]
    for row in rows:
        assert 10 < float(row[3]) <= float(row[4]) < 100 and 0 < float(row[5]) < 1, row


def test_search_convergence_prints_the_fit_per_mark_beside_the_truths():
    out = _run("search_convergence.py", "checkpoints/default", "train/default_checkpoint/warm_start",
               "--faces", str(ROOT / "tests" / "data" / "faces"), "--limit", "2", "-k", "2", "--marks", "5,1")
    assert "| generator | 1 steps | 5 steps |" in out
    rows = {line.split("|")[1].strip(): [cell.split(" / ") for cell in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ") and not line.startswith("| generator")}
    assert list(rows) == ["checkpoints/default", "train/default_checkpoint/warm_start", "ground truth (any step)"]
    for name in list(rows)[:2]:
        (mean_1, best_1), (mean_5, best_5) = [[float(v) for v in cell] for cell in rows[name]]
        assert 10 < mean_1 <= best_1 < 60 and 10 < mean_5 <= best_5 < 60
        assert mean_5 > mean_1, rows[name]  # four Adam steps at the default learning rate fit the input better
    truth = rows["ground truth (any step)"]
    assert truth[0] == truth[1] and 10 < float(truth[0][0]) <= float(truth[0][1]) < 60


def test_real_face_detection_finds_the_real_faces_upright_and_tilted():
    import pytest

    pytest.importorskip("skimage", reason="the real photos come with scikit-image and matplotlib (the metrics extra)")
    out = _run("real_face_detection.py", "--angles", "0,30")
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in ("astronaut", "grace_hopper", "cameraman")}
    assert set(rows) == {(name, angle) for name in ("astronaut", "grace_hopper", "cameraman") for angle in ("0", "30")}
    for name in ("astronaut", "grace_hopper"):  # frontal faces: found upright and tilted, and turned back
        upright, turned = rows[(name, "0")], rows[(name, "30")]
        assert upright[1] == turned[1] == "yes" and abs(float(turned[2].rstrip("°")) - 30) < 5, (upright, turned)
    assert re.search(r"face tab found \d+ of 6", out)
