"""The training framing: where a face sits in the squares the models were trained on. Constants only (no
detector, no OpenCV), so that the metrics and the alignment can use them without the detectors' packages.

The HR training faces are crops of the faces128 corpus with the fixed box ``CORPUS_BOX`` (then resized to 64×64);
``srnam.faces`` finds that framing in other photos, ``srnam.alignment`` turns a face onto it.
"""
from __future__ import annotations

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive, like PIL's crop

CORPUS_SIZE = 128
CORPUS_BOX: Box = (20, 32, 108, 120)  # the HR training crop of a 128×128 faces128 image

# dlib's face box in the training framing (x0, y0, x1, y1, as fractions of the crop's side), measured by
# train/calibrate_framing.py over faces128/dev; srnam.metrics.FACE_BOX is the same.
DLIB_FACE_BOX = (0.112, 0.071, 0.954, 0.923)


def corpus_box(side: int) -> tuple[float, float, float, float]:
    """``CORPUS_BOX`` in a square faces128-style portrait of ``side`` px (the corpus's 128 px, or a larger render)."""
    scale = side / CORPUS_SIZE
    return tuple(v * scale for v in CORPUS_BOX)
