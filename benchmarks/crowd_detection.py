"""Face detection on synthetic crowd photos: recall per face size and precision (srnam/synthetic_crowd.py).

    python benchmarks/crowd_detection.py ../shared/data/faces128/dev --photos 20 --windows 24,36,48

Each photo holds ``--faces`` dev portraits at face sizes drawn from ``SIZES`` (12–64 px, as many of each), on
a synthetic background, through a low-quality camera. A detection matches a true face at IoU ≥ 0.4. For each
small-face window (``srnam.faces.SMALL_FACE_WINDOW``: the side small faces are enlarged to before the Haar
cascade looks) the table gives the recall per true face size, the precision over all detections, and the
seconds per photo. The same photos for every setting. With dlib installed (the ``metrics`` extra), also its
HOG frontal-face detector with the photo upsampled 2× and 3× (its window is 80 px), the candidate replacement.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from srnam import faces
from srnam.data import image_files
from srnam.synthetic_crowd import crowd_photo, match

SIZES = (12, 16, 20, 24, 32, 40, 48, 64)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portraits", type=Path, help="folder of faces128-style portraits (e.g. faces128/dev)")
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--faces", type=int, default=16, help="faces per photo (default 16: 2 of each size)")
    parser.add_argument("--windows", default=str(faces.SMALL_FACE_WINDOW), help="comma-separated windows to compare")
    parser.add_argument("--min-face", type=int, default=12)
    args = parser.parse_args(argv)
    files = image_files(args.portraits)
    photos = []
    for p in range(args.photos):
        chosen = [files[(p * args.faces + i) % len(files)] for i in range(args.faces)]
        sizes = [SIZES[i % len(SIZES)] for i in range(args.faces)]
        photos.append(crowd_photo([Image.open(f) for f in chosen], sizes, seed=p))
    print(f"{len(photos)} photos, {sum(len(b) for _, b in photos)} faces placed; recall per face size (px):")
    print(f"{'detector':>9} " + " ".join(f"{s:>5}" for s in SIZES) + f" {'precision':>10} {'s/photo':>8}")
    detectors = {f"haar {w}": _haar(int(w), args.min_face) for w in args.windows.split(",")}
    try:
        import dlib

        hog = dlib.get_frontal_face_detector()
        for up in (2, 3):
            detectors[f"hog ×{up}"] = _hog(hog, up)
    except ImportError:
        print("(dlib is not installed: no HOG rows)")
    for name, detect in detectors.items():
        found = {s: [0, 0] for s in SIZES}
        detections = true_detections = 0
        start = time.perf_counter()
        for photo, boxes in photos:
            detected = detect(photo)
            matched = match(detected, boxes)
            detections += len(detected)
            true_detections += sum(m is not None for m in matched)
            for box, m in zip(boxes, matched):
                size = min(SIZES, key=lambda s: abs(s - (box[2] - box[0])))
                found[size][0] += m is not None
                found[size][1] += 1
        seconds = (time.perf_counter() - start) / len(photos)
        recall = " ".join(f"{hit / total:5.0%}" if total else "  n/a" for hit, total in found.values())
        print(f"{name:>9} {recall} {true_detections / max(detections, 1):>10.1%} {seconds:8.2f}", flush=True)


def _haar(window: int, min_face: int):
    def detect(photo):
        faces.SMALL_FACE_WINDOW = window
        return faces.detect_faces(photo, min_face)
    return detect


def _hog(detector, upsample: int):
    def detect(photo):
        rects, _, _ = detector.run(np.asarray(photo.convert("RGB")), upsample, 0.0)
        return [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects]
    return detect


if __name__ == "__main__":
    main()
