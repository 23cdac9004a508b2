"""Finding a face in a photo and cutting it out with the framing the models were trained on.

The HR training faces are crops of the faces128 corpus with the fixed box ``CORPUS_BOX`` (then resized
to 64×64). A photo from elsewhere must be cut with the *same* framing, or the generator's face space and
the user's faces would not line up. ``face_crop_box`` does that from OpenCV's Haar frontal-face detector:
the crop box is a square placed relative to the detected box by three constants, calibrated on the
corpus (``train/calibrate_framing.py`` reproduces them).

The detector of the largest face is the Haar cascade shipped in ``opencv-python-headless`` (no model
download, CPU, a few milliseconds per image). It finds upright, roughly frontal faces; profiles, strong
rotations and very dark faces are missed, and the caller is told (``found=False``) rather than given a wrong
crop silently. Every face of a photo, down to 12 px, is found by dlib's HOG detector instead
(``detect_faces``): slower, but it finds small faces the cascade misses.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image


try:
    import cv2
except ImportError as err:  # the faces extra: a plain `pip install srnam` is the library without the detectors
    raise ImportError("finding faces needs OpenCV and dlib: pip install 'srnam[faces]' (or the project's "
                      "requirements.txt)") from err

from .framing import DLIB_FACE_BOX, Box, box_area, crop_resized

# The training framing relative to the Haar box (x, y, w, h): the crop is a square of side
# FRAME_SIDE * w centred at (x + w/2 + FRAME_DX * w, y + h/2 + FRAME_DY * w).
# Measured by `python train/calibrate_framing.py` (defaults: the first 300 sorted images of
# faces128/train/, the detector settings below): a face was detected in 298 of 300 images, and these are
# the medians over them of (crop centre - detected centre) / detected side and crop side / detected side,
# for CORPUS_BOX (5th-95th percentiles: DX -0.023..0.024, DY 0.038..0.091, SIDE 0.935..1.100: faces vary
# around the fixed box). With them, the IoU between face_crop_box and CORPUS_BOX has median 0.915 and 5th
# percentile 0.81 at 128 px (the same at 256 and 512 px; at 64 px, median 0.83: the cascade is coarse there).
FRAME_DX = 0.0
FRAME_DY = 0.068
FRAME_SIDE = 1.011

# Detector settings (the calibration above depends on them: re-run it if they change).
SCALE_FACTOR = 1.1  # image pyramid step; finer steps are slower and barely change the boxes
MIN_NEIGHBORS = 5  # overlapping raw detections needed to accept a face: fewer gives more false faces
DETECT_MAX_SIDE = 512  # larger images are reduced first: detection time grows with the pixel count
MIN_FACE_FRACTION = 0.08  # ignore "faces" narrower than this fraction of the image's shorter side


@functools.lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"could not load OpenCV's Haar cascade from {path}; reinstall opencv-python-headless")
    return cascade


def detect_face(image: Image.Image) -> Box | None:
    """The largest upright frontal face in ``image`` as (x0, y0, x1, y1) in its pixels, or None.

    The image is converted to equalised grayscale (the cascade works on gray levels; equalising helps
    under- and over-exposed photos) and reduced to at most ``DETECT_MAX_SIDE`` pixels per side first.
    """
    gray = np.asarray(image.convert("L"))  # [H, W]
    scale = min(1.0, DETECT_MAX_SIDE / max(gray.shape))
    reduced = min(round(side * scale) for side in gray.shape)  # the shorter side the cascade sees
    found = haar_faces(gray, max(24, round(MIN_FACE_FRACTION * reduced)), scale)  # 24: the cascade's window
    return found[0] if found else None


# Every face of a photo: dlib's HOG frontal-face detector (in the dlib-bin wheel, no model file). On the synthetic
# crowds of benchmarks/crowd_detection.py it finds far more of the 12-40 px faces than the Haar cascade, with
# almost no false faces. Its window is 80 px, so the photo is upsampled (2^k times) until the smallest face
# asked for fills it, up to HOG_MAX_PIXELS scanned; larger photos can only have their larger faces found.
HOG_WINDOW = 80
HOG_MAX_UPSAMPLE = 3  # 8×: a 12 px face becomes 96 px
HOG_MAX_PIXELS = 20_000_000  # of the upsampled photo: time and memory grow with it (640×480 at 8× is 19.7 MP)
# The detector's score threshold (its own default is 0): lower finds more faces at some false ones. Chosen on
# crowd photos 0-9 and checked on photos 10-29 (benchmarks/README.md).
HOG_THRESHOLD = -0.6
# ...for small faces only. A face of LARGE_FACE px and more has the detail to score dlib's default of 0 (the
# crowds' faces of 40-100 px scored 0.2-2.7), while in a real photo, NASA's portrait of Eileen Collins
# (demo/examples/photos/astronaut.jpg), two mission patches of 100 and 58 px scored -0.10 and -0.35.
LARGE_FACE, LARGE_FACE_THRESHOLD = 40, 0.0
# That box was measured on faces of 200+ px. On the small faces of a crowd (12-64 px, found in the upsampled
# photo) the squares it gives sit off the true ones by a median of (dx, dy) face sides and are `side` times as
# large: measured by benchmarks/crowd_detection.py on photos 100-119 (the "offset" line; the threshold and the
# tables use other photos), and divided out.
HOG_OFFSET = (-0.062, -0.021, 1.146)  # (dx, dy, side)


@functools.lru_cache(maxsize=1)
def _hog_detector():
    try:
        import dlib
    except ImportError as err:  # a requirement: only a broken install gets here
        raise RuntimeError("finding the faces of a photo needs dlib: pip install dlib-bin") from err
    return dlib.get_frontal_face_detector()


def hog_upsampling(size: tuple[int, int], min_face: int) -> tuple[int, float]:
    """How a ``size`` (width, height) photo is prepared for the HOG detector to find faces of ``min_face`` px:
    ``(k, shrink)``, the detector's own 2^k upsampling and the factor (at most 1) the photo is resized by first
    (huge photos only). The smallest face it can find is then ``HOG_WINDOW / (2^k · shrink)`` pixels."""
    pixels = size[0] * size[1]
    k = 0
    while k < HOG_MAX_UPSAMPLE and HOG_WINDOW / 2**k > min_face and pixels * 4 ** (k + 1) <= HOG_MAX_PIXELS:
        k += 1
    return k, min(1.0, (HOG_MAX_PIXELS / pixels) ** 0.5)


def smallest_findable_face(size: tuple[int, int], min_face: int = 12) -> int:
    """The smallest face (px) :func:`detect_faces` can find in a photo of ``size`` (width, height)."""
    k, shrink = hog_upsampling(size, min_face)
    return max(min_face, math.ceil(HOG_WINDOW / (2**k * shrink)))


def detect_faces(image: Image.Image, min_face: int = 12) -> list[Box]:
    """Every upright frontal face of at least ``min_face`` pixels in ``image``, largest first.

    dlib's HOG detector (see ``HOG_WINDOW``) on the photo upsampled as ``hog_upsampling`` says; faces smaller
    than ``smallest_findable_face`` cannot be found. The boxes are given in the Haar convention of
    :func:`detect_face` (the square that ``framing_from_detection`` turns into the training framing), converted
    from dlib's own box by ``DLIB_FACE_BOX``, so that both detectors' faces are framed alike.
    """
    return [box for box, score in scored_faces(image, min_face, HOG_THRESHOLD) if is_kept(box, score)]


def is_kept(box: Box, score: float) -> bool:
    """Whether :func:`detect_faces` keeps a detection of ``score`` (at least ``HOG_THRESHOLD``): a face under
    ``LARGE_FACE`` px always, a larger one if it scores ``LARGE_FACE_THRESHOLD`` or more."""
    return box[2] - box[0] < LARGE_FACE or score >= LARGE_FACE_THRESHOLD


def scored_faces(image: Image.Image, min_face: int, threshold: float) -> list[tuple[Box, float]]:
    """:func:`detect_faces` with the detector's score of each face, for faces scoring ``threshold`` or more."""
    if min_face < 1:
        raise ValueError(f"min_face must be at least 1 pixel, got {min_face}")
    k, shrink = hog_upsampling(image.size, min_face)
    rgb = image.convert("RGB")
    if shrink < 1:
        rgb = rgb.resize((max(1, round(rgb.width * shrink)), max(1, round(rgb.height * shrink))),
                         Image.Resampling.BOX)
    rects, scores, _ = _hog_detector().run(np.asarray(rgb), k, threshold)
    found = [(_haar_convention([v / shrink for v in (r.left(), r.top(), r.right() + 1, r.bottom() + 1)]), score)
             for r, score in zip(rects, scores)]
    return sorted((f for f in found if f[0][2] - f[0][0] >= min_face), key=lambda f: box_area(f[0]), reverse=True)


def _haar_convention(dlib_box: list[float]) -> Box:
    """dlib's face box → the training-framing square it implies (``DLIB_FACE_BOX``, ``HOG_OFFSET``) → the Haar
    box whose framing that square is (``framing_from_detection`` inverted)."""
    x0, y0, x1, y1 = dlib_box
    fx0, fy0, fx1, fy1 = DLIB_FACE_BOX
    crop_side = (x1 - x0) / (fx1 - fx0)
    crop_cx, crop_cy = x0 + crop_side * (0.5 - fx0), y0 + crop_side * (0.5 - fy0)
    dx, dy, scale = HOG_OFFSET
    side = crop_side / FRAME_SIDE / scale
    cx, cy = crop_cx - (FRAME_DX + dx) * side, crop_cy - (FRAME_DY + dy) * side
    return (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))


def haar_faces(gray: np.ndarray, min_side: int = 24, scale: float = 1.0) -> list[Box]:
    """The cascade's faces of at least ``min_side`` px in the grayscale image ``gray`` reduced by ``scale`` (at
    most 1) and equalised, as boxes in ``gray``'s pixels, largest first (by their size in the reduced image)."""
    if scale != 1.0:
        gray = cv2.resize(gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)),
                          interpolation=cv2.INTER_AREA)
    found = _cascade().detectMultiScale(cv2.equalizeHist(gray), scaleFactor=SCALE_FACTOR,
                                        minNeighbors=MIN_NEIGHBORS, minSize=(min_side, min_side))
    raw = sorted((tuple(int(v) for v in f) for f in found), key=lambda f: f[2] * f[3], reverse=True)
    return [(round(x / scale), round(y / scale), round((x + w) / scale), round((y + h) / scale)) for x, y, w, h in raw]


def framing_from_detection(face: Box) -> Box:
    """The training-framing square for a detected face box (may extend past the image border)."""
    x0, y0, x1, y1 = face
    side = x1 - x0
    cx, cy = (x0 + x1) / 2 + FRAME_DX * side, (y0 + y1) / 2 + FRAME_DY * side
    half = FRAME_SIDE * side / 2
    left, top = round(cx - half), round(cy - half)
    crop_side = round(2 * half)
    return (left, top, left + crop_side, top + crop_side)


def face_crop_box(image: Image.Image) -> tuple[Box, bool]:
    """The training-framing square box of the largest face and True, or the centre square and False.

    The box keeps the framing exact even where it extends past the image border (a face near an edge):
    ``crop_face`` pads such boxes by reflection instead of shifting the box, which would move the face
    off the position the generator learned.
    """
    face = detect_face(image)
    if face is None:
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        return (left, top, left + side, top + side), False
    return framing_from_detection(face), True


def crop_face(image: Image.Image, size: int = 64) -> tuple[Image.Image, bool]:
    """The face in the training framing, resized to size×size, and whether a face was found.

    Without a face the centre square is used (and ``False`` returned), so a caller can decide whether
    such crops are good enough; ``train/prepare_data.py`` skips them.
    """
    box, found = face_crop_box(image)
    return crop_resized(image, box, size), found
