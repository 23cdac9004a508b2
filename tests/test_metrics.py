"""srnam.evaluation.metrics on known cases: perfect scores for identical images, hand-computed PSNR and SSIM, and the
face metrics (dlib, from the metrics extra) on the corpus faces of tests/data/faces."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srnam.evaluation import metrics
from srnam import images
from srnam.faces.framing import crop_corpus
from srnam.images import pil_to_tensor

FACES = sorted((Path(__file__).parent / "data" / "faces").glob("*.jpg"))
needs_dlib = pytest.mark.skipif(metrics.face_metrics_unavailable() is not None,
                                reason=f"face metrics unavailable: {metrics.face_metrics_unavailable()}")


def test_psnr_hand_computed_and_capped():
    a = torch.zeros(1, 3, 2, 2)
    assert images.psnr(a + 0.1, a).item() == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 → 10·log10(1/0.01)
    b = a.clone()
    b[0, 0, 0, 0] = 0.5  # one of 12 values off by 0.5: MSE 0.25/12
    assert images.psnr(b, a).item() == pytest.approx(10 * math.log10(12 / 0.25), abs=1e-4)
    assert images.psnr(a, a).item() == images.PSNR_CAP_DB  # identical: capped, not infinite


def test_psnr_and_ssim_broadcast_over_candidates():
    truth = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    candidates = torch.stack([truth, (truth + 0.1).clamp(0, 1), 1 - truth], dim=1)  # [2, 3 candidates, 3, 16, 16]
    psnr, ssim = images.psnr(candidates, truth[:, None]), metrics.ssim(candidates, truth[:, None])
    assert psnr.shape == ssim.shape == (2, 3)
    assert torch.all(psnr[:, 0] == images.PSNR_CAP_DB) and torch.allclose(ssim[:, 0], torch.ones(2))
    assert torch.all(psnr[:, 1] > psnr[:, 2]) and torch.all(ssim[:, 1] > ssim[:, 2])


def test_ssim_of_flat_images_is_the_luminance_term():
    # No variance: SSIM = (2ab + C1) / (a² + b² + C1), the contrast-structure factor is C2 / C2 = 1.
    a, b, c1 = 0.2, 0.6, 0.01 ** 2
    value = metrics.ssim(torch.full((3, 11, 11), a), torch.full((3, 11, 11), b)).item()
    assert value == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-5)


def test_ssim_matches_the_formula_on_one_window():
    # An 11×11 image is exactly one Gaussian window: compute the weighted statistics by hand.
    rng = np.random.default_rng(0)
    x, y = rng.random((11, 11)), rng.random((11, 11))
    y = 0.5 * x + 0.5 * y  # correlated with x
    offsets = np.arange(11) - 5
    w = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5 ** 2))
    w /= w.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy, cov = (w * x * x).sum() - mx ** 2, (w * y * y).sum() - my ** 2, (w * x * y).sum() - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    expected = (2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    value = metrics.ssim(torch.tensor(x)[None].repeat(3, 1, 1), torch.tensor(y)[None].repeat(3, 1, 1)).item()
    assert value == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="at least 11"):
        metrics.ssim(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_mean_pairwise_l1():
    images = torch.stack([torch.full((3, 4, 4), v) for v in (0.0, 0.5, 1.0)])
    assert metrics.mean_pairwise_l1(images[:1]) == 0.0
    assert metrics.mean_pairwise_l1(images[:2]) == pytest.approx(0.5)
    assert metrics.mean_pairwise_l1(images) == pytest.approx((0.5 + 1.0 + 0.5) / 3)


def test_to_unit_range_gives_the_8_bit_values_of_saved_images():
    values = torch.tensor([-2.0, -1.0, 0.0, 0.3, 1.0, 5.0])
    assert torch.equal(images.to_unit_range(values) * 255, torch.tensor([0.0, 0.0, 128.0, 166.0, 255.0, 255.0]))


def test_landmark_metrics_on_known_points():
    points = np.array([[20.0, 30.0], [44.0, 30.0], [32.0, 40.0]])
    assert metrics.landmark_heatmap_distance(points, points) == 0.0
    # One landmark moved far away: its two heatmaps no longer overlap, each squared Gaussian sums to πσ².
    moved = points + [[0, 0], [0, 0], [0, 20]]
    expected = 2 * math.pi * metrics.HEATMAP_SIGMA ** 2 / 64 ** 2 / len(points)
    assert metrics.landmark_heatmap_distance(moved, points) == pytest.approx(expected, rel=1e-3)
    assert 0 < metrics.landmark_heatmap_distance(points + 0.5, points) < expected  # a small move: a partial overlap

    # The normalised error divides by the outer eye corners (36, 45) of the 68-point reference.
    reference = np.zeros((68, 2))
    reference[45] = [10.0, 0.0]
    assert metrics.normalised_landmark_error(reference, reference) == 0.0
    assert metrics.normalised_landmark_error(reference + [3.0, 4.0], reference) == pytest.approx(0.5)


def test_identity_distance():
    a = np.zeros(128)
    assert metrics.identity_distance(a, a) == 0.0
    assert metrics.identity_distance(a + 0.1, a) == pytest.approx(0.1 * math.sqrt(128))


@pytest.fixture(scope="module")
def corpus_faces():
    return torch.cat([pil_to_tensor(crop_corpus(Image.open(path))) for path in FACES]).add(1).div(2)  # [3, 3, 64, 64]


@needs_dlib
def test_face_metrics_on_identical_and_shifted_faces(corpus_faces):
    analyser = metrics.FaceAnalyser()
    shifted = torch.roll(corpus_faces, shifts=(3, 2), dims=(2, 3))  # 3 px down, 2 px right
    points, descriptors = analyser.analyse(torch.cat([corpus_faces, corpus_faces, shifted]))
    assert points.shape == (9, 68, 2) and descriptors.shape == (9, 128)
    truth, again, moved = points[:3], points[3:6], points[6:]
    assert np.all((truth > -4) & (truth < 68))  # the crop cuts the chin: jaw points may sit on the border
    eyes_and_nose = truth[:, [36, 45, 30]]  # outer eye corners, nose tip
    assert np.all((eyes_and_nose > 10) & (eyes_and_nose < 54))
    assert np.all(truth[:, 36, 0] < truth[:, 45, 0])  # the face's right eye corner is on the image's left
    for i in range(3):
        assert metrics.normalised_landmark_error(again[i], truth[i]) == 0.0  # deterministic: perfect scores
        assert metrics.landmark_heatmap_distance(again[i], truth[i]) == 0.0
        assert metrics.identity_distance(descriptors[3 + i], descriptors[i]) == 0.0
        assert metrics.normalised_landmark_error(moved[i], truth[i]) > 0.02  # the landmarks follow the face
        assert metrics.landmark_heatmap_distance(moved[i], truth[i]) > 0
        # A shifted copy is still the same person; the three corpus faces are different people.
        assert metrics.identity_distance(descriptors[6 + i], descriptors[i]) < metrics.SAME_PERSON_DISTANCE
    assert metrics.identity_distance(descriptors[0], descriptors[1]) > 0.3
    np.testing.assert_allclose(moved.mean(axis=1) - truth.mean(axis=1), [[2, 3]] * 3, atol=1.0)


def test_face_detection_rate(corpus_faces):
    faces = corpus_faces * 2 - 1  # [-1, 1], as models make them
    # The cascade finds 2 of these 3 corpus crops (about 91 % of the 500 dev crops; it is deterministic).
    assert metrics.face_detection_rate(faces) == 2 / 3
    flat = torch.zeros(2, 3, 64, 64)
    noise = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert metrics.face_detection_rate(torch.cat([faces, flat, noise])) == 2 / 7  # no face in flat or noise


def test_laplacian_energy_and_sharpness():
    flat = torch.full((2, 3, 8, 8), 0.5)
    assert metrics.laplacian_energy(flat).tolist() == [0.0, 0.0]
    checker = ((torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2).float().expand(1, 3, 8, 8)
    assert metrics.laplacian_energy(checker).item() == pytest.approx(16.0)  # ±4 at every inner pixel
    noise = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    blurred = torch.nn.functional.avg_pool2d(noise, 3, stride=1, padding=1)
    assert metrics.sharpness(noise, noise) == pytest.approx(1.0)
    assert metrics.sharpness(blurred, noise) < 0.1 < metrics.sharpness(noise, blurred)


def test_frechet_distance_matches_the_closed_form():
    d = 4
    eye = np.eye(d)

    def star(a, shift=0.0):  # ±a·e_i: mean shift, covariance exactly 2a²/(2d − 1) · I
        return np.concatenate([a * eye, -a * eye]) + shift

    assert metrics.frechet_distance(star(1.0), star(1.0)) == pytest.approx(0.0, abs=1e-9)
    assert metrics.frechet_distance(star(1.0, shift=0.5), star(1.0)) == pytest.approx(d * 0.25)
    ca, cb = 2 * 1.0 / (2 * d - 1), 2 * 9.0 / (2 * d - 1)
    assert metrics.frechet_distance(star(1.0), star(3.0)) == pytest.approx(d * (ca ** 0.5 - cb ** 0.5) ** 2)
    with pytest.raises(ValueError, match="one D"):
        metrics.frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))


def test_camera_realism_sees_blur_noise_and_colour():
    from srnam.evaluation.camera_realism import BANDS, camera_fd, lr_statistics, noise_spread

    rng = torch.Generator().manual_seed(0)
    faces = torch.nn.functional.avg_pool2d(torch.rand(400, 3, 64, 64, generator=rng), 4)  # [400, 3, 16, 16]
    real, other = faces[:200], faces[200:]
    assert lr_statistics(real).shape == (200, 6 + BANDS)
    same = camera_fd(other, real)
    blurred = torch.nn.functional.avg_pool2d(other, 3, stride=1, padding=1, count_include_pad=False)
    noisy = (other + 0.08 * torch.randn(other.shape, generator=rng)).clamp(0, 1)
    tinted = (other * torch.tensor([1.0, 0.9, 0.8]).view(1, 3, 1, 1)).clamp(0, 1)
    assert all(camera_fd(changed, real) > 5 * same for changed in (blurred, noisy, tinted)), \
        (same, [camera_fd(c, real) for c in (blurred, noisy, tinted)])
    one_face = real[:4, None].expand(4, 5, 3, 16, 16)
    assert noise_spread(one_face) == 0.0
    assert noise_spread(torch.stack([real[:4], real[:4] + 2 / 255], dim=1)) == pytest.approx(2.0, rel=1e-4)


def test_the_library_alone_searches_without_any_extra_installed():
    """``pip install srnam`` without extras: no OpenCV, dlib, gradio, matplotlib, scikit-image or OpenVINO. The library
    imports, loads the shipped models and searches; the pixel metrics and the framing need only torch (metrics.py
    once imported OpenCV, through the detector module, for one constant); the detector says what to install."""
    import subprocess
    import sys

    extras = ["cv2", "dlib", "face_recognition_models", "gradio", "matplotlib", "skimage", "openvino"]
    code = (f"import sys; sys.modules.update(dict.fromkeys({extras!r}))  # any import of them now fails\n"
            "import torch, srnam, srnam.evaluation.metrics as m, srnam.faces.framing as framing\n"
            "pipe = srnam.SRNAMPipeline.from_pretrained(device='cpu')\n"
            "out = pipe(torch.rand(3, 16, 16), num_candidates=2, num_steps=2, seed=0)\n"
            "x = torch.rand(2, 3, 16, 16)\n"
            "print(len(out.hr_candidates), float(m.ssim(x, x.clamp(0, 0.9)).mean()) < 1, framing.CORPUS_BOX)\n"
            "try:\n    import srnam.faces.photo\nexcept ImportError as err:\n    print(err)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["2 True (20, 32, 108, 120)", "finding faces needs OpenCV and dlib: pip install 'srnam[faces]' "
                                          "(or the project's requirements.txt)"], result.stdout  # a clear hint
