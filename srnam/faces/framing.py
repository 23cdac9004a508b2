"""The training framing: where a face sits in the squares the models were trained on. Constants only (no
detector, no OpenCV), so that the metrics and the alignment can use them without the detectors' packages.

The HR training faces are crops of the faces128 corpus with the fixed box ``CORPUS_BOX`` (then resized to 64×64);
``srnam.faces.detect`` finds that framing in other photos, ``srnam.faces.alignment`` turns a face onto it.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..images import centre_square

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive, like PIL's crop

CORPUS_SIZE = 128
CORPUS_BOX: Box = (20, 32, 108, 120)  # the HR training crop of a 128×128 faces128 image

# dlib's face box in the training framing (x0, y0, x1, y1, as fractions of the crop's side), measured by
# train/calibrate_framing.py over faces128/dev; srnam.evaluation.metrics.FACE_BOX is the same.
DLIB_FACE_BOX = (0.112, 0.071, 0.954, 0.923)


def corpus_box(side: int) -> tuple[float, float, float, float]:
    """``CORPUS_BOX`` in a square faces128-style portrait of ``side`` px (the corpus's 128 px, or a larger render)."""
    scale = side / CORPUS_SIZE
    return tuple(v * scale for v in CORPUS_BOX)


def box_area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _intersection(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 for two empty ones)."""
    inter = _intersection(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union else 0.0


def crop_padded(image: Image.Image, box: Box) -> Image.Image:
    """``image.crop(box)``, but the parts of ``box`` outside the image are filled by reflecting it."""
    x0, y0, x1, y1 = box
    if x0 >= 0 and y0 >= 0 and x1 <= image.width and y1 <= image.height:
        return image.crop(box)
    if x0 >= image.width or y0 >= image.height or x1 <= 0 or y1 <= 0:
        raise ValueError(f"crop box {box} does not overlap the {image.width}×{image.height} image")
    pixels = np.asarray(image)  # [H, W] or [H, W, C]; only faces at the border get here
    left, top = max(-x0, 0), max(-y0, 0)
    pad = ((top, max(y1 - image.height, 0)), (left, max(x1 - image.width, 0))) + ((0, 0),) * (pixels.ndim - 2)
    # numpy reflects repeatedly when a pad is wider than the image; a 1-pixel side has nothing to reflect.
    padded = np.pad(pixels, pad, mode="reflect" if min(pixels.shape[:2]) > 1 else "edge")
    return Image.fromarray(padded[y0 + top:y1 + top, x0 + left:x1 + left])


def crop_corpus(image: Image.Image, size: int = 64) -> Image.Image:
    """The fixed ``CORPUS_BOX`` framing of a faces128-style portrait, resized to size×size.

    The box is scaled to the image's side, so a 256×256 render of the corpus gets the same framing;
    a non-square image is centre-cropped to a square first.
    """
    image = centre_square(image)
    return image.resize((size, size), Image.Resampling.LANCZOS, box=corpus_box(image.width), reducing_gap=None)


def crop_centre(image: Image.Image, size: int = 64) -> Image.Image:
    """The centre square resized to size×size: for photos that are already face crops."""
    return _resize(centre_square(image), size)


def crop_resized(image: Image.Image, box: Box, size: int) -> Image.Image:
    """``box`` of ``image`` (reflection-padded where it leaves the image) resized to size×size."""
    return _resize(crop_padded(image, box), size)


def _resize(image: Image.Image, size: int) -> Image.Image:
    # LANCZOS with PIL's full-support filter antialiases large reductions (a 1000 px face → 64 px).
    return image if image.size == (size, size) else image.resize((size, size), Image.Resampling.LANCZOS)
