"""Measure how the training framing (faces128's CORPUS_BOX) sits relative to the Haar face box.

Runs ``srnam.faces.detect.detect_face`` on the first N sorted images of faces128/train/, and prints the
medians over the images with a detection of

    FRAME_DX   = (crop centre x - detected centre x) / detected side
    FRAME_DY   = (crop centre y - detected centre y) / detected side
    FRAME_SIDE = crop side / detected side

which are the constants hard-coded in srnam/faces/detect.py, plus the detection rate and the IoU between
``face_crop_box`` (with the hard-coded constants) and the corpus box, at 128 px and at --sizes
(the images resized first: the framing must not depend on the photo's resolution). With dlib installed
(the ``metrics`` extra) also dlib's median face box in the training framing: ``srnam.evaluation.metrics.FACE_BOX``.

    python train/calibrate_framing.py ../shared/data/faces128/train --count 300
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from PIL import Image

from srnam.evaluation import metrics
from srnam.faces import detect, framing


def calibrate_face_box(portraits: list, crop: tuple[float, float, float, float],
                       scales: tuple[float, ...] = (0.7, 0.85, 1.0, 1.2, 1.4)) -> tuple[float, float, float, float]:
    """How ``srnam.evaluation.metrics.FACE_BOX`` was measured, for other framings: the median box of dlib's frontal face detector
    over ``portraits`` (PIL images with some margin around the face), as fractions of the side of the
    crop ``crop`` (x0, y0, x1, y1 as fractions of each portrait's side).

    The detector runs on the whole portrait (on the crop itself the face nearly fills the image), scaled so
    that the crop is ``scale × metrics.ANALYSIS_SIZE`` wide for each of ``scales``: its boxes snap to the steps of
    its image pyramid, so one scale alone gives a box that is off by up to a tenth of the face."""
    detector = metrics.dlib_models()[0].get_frontal_face_detector()
    crop_side = crop[2] - crop[0]
    origin = np.array(crop[:2] * 2)  # (x0, y0, x0, y0)
    boxes = []
    for portrait, scale in itertools.product(portraits, scales):
        side = round(scale * metrics.ANALYSIS_SIZE / crop_side)  # the portrait's side once scaled
        found = detector(np.asarray(portrait.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)), 0)
        if found:
            box = max(found, key=lambda r: r.area())
            corners = np.array([box.left(), box.top(), box.right() + 1, box.bottom() + 1]) / side
            boxes.append((corners - origin) / crop_side)
    if not boxes:
        raise ValueError("dlib's detector found no face in any of the portraits")
    return tuple(round(float(v), 3) for v in np.median(np.stack(boxes), axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="faces128/train (128×128 corpus images)")
    parser.add_argument("--count", type=int, default=300, help="how many sorted images to use")
    parser.add_argument("--sizes", default="64,256,512", help="also check the framing with the images resized to these sides")
    args = parser.parse_args()

    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:args.count]
    x0, y0, x1, y1 = framing.CORPUS_BOX
    crop_cx, crop_cy, crop_side = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0
    ratios, missed, images = [], [], []
    for path in files:
        with Image.open(path) as image:
            image = image.convert("RGB")
        images.append(image)
        face = detect.detect_face(image)
        if face is None:
            missed.append(path.name)
            continue
        side = face[2] - face[0]
        ratios.append(((crop_cx - (face[0] + face[2]) / 2) / side, (crop_cy - (face[1] + face[3]) / 2) / side,
                       crop_side / side))
    ratios = np.array(ratios)  # [found, 3]
    print(f"detected a face in {len(ratios)} of {len(files)} images; missed: {', '.join(missed) or 'none'}")
    print("medians (5th-95th percentile):")
    for name, column in zip(("FRAME_DX", "FRAME_DY", "FRAME_SIDE"), ratios.T):
        low, high = np.percentile(column, [5, 95])
        print(f"  {name:10s} = {np.median(column):.3f}   ({low:.3f} .. {high:.3f})")
    print(f"hard-coded: FRAME_DX={detect.FRAME_DX} FRAME_DY={detect.FRAME_DY} FRAME_SIDE={detect.FRAME_SIDE}")

    for size in [framing.CORPUS_SIZE] + [int(s) for s in args.sizes.split(",") if s]:
        target = framing.corpus_box(size)
        overlaps = []
        for image in images:
            resized = image if size == image.width else image.resize((size, size), Image.Resampling.LANCZOS)
            box, found = detect.face_crop_box(resized)
            if found:
                overlaps.append(framing.iou(box, target))
        if overlaps:
            print(f"{size:4d} px: face found in {len(overlaps)}/{len(images)}; IoU with the corpus box: median "
                  f"{np.median(overlaps):.3f}, 5th percentile {np.percentile(overlaps, 5):.3f}, min {min(overlaps):.3f}")
        else:
            print(f"{size:4d} px: no face found")

    if metrics.face_metrics_unavailable() is None:  # the box the landmark and identity metrics assume
        crop = framing.corpus_box(1)
        print(f"dlib's face box in the training framing: FACE_BOX = {calibrate_face_box(images, crop)} "
              f"(hard-coded: {metrics.FACE_BOX})")


if __name__ == "__main__":
    main()
