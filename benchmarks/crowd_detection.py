"""Face detection on synthetic crowd photos: recall per face size, framing and precision
(srnam/evaluation/synthetic_crowd.py).

    python benchmarks/crowd_detection.py ../shared/data/faces128/dev --photos 20 --first 10 --thresholds=-0.8,-0.6,-0.4,0

Each photo holds ``--faces`` dev portraits at face sizes drawn from ``SIZES`` (12–64 px, as many of each), on
a synthetic background, through a low-quality camera. A detection matches a true face at IoU ≥ 0.4. For each
score threshold of ``srnam.faces.detect.detect_faces`` (dlib's HOG detector; ``detect.HOG_THRESHOLD`` is the default)
the table gives the recall per true face size, the precision over all detections, and the median IoU between
the training-framing square made from each matched detection and the true one (1: framed exactly as the
training faces). The ``haar`` row is OpenCV's cascade on the photo as it is, the detector of the single-face
path, for comparison. The same photos for every row: ``--first`` picks them (photos 0–9 chose the threshold).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from srnam.faces import detect, framing
from srnam.training.data import image_files
from srnam.evaluation.synthetic_crowd import crowd_photo, match

SIZES = (12, 16, 20, 24, 32, 40, 48, 64)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portraits", type=Path, help="folder of faces128-style portraits (e.g. faces128/dev)")
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--first", type=int, default=0, help="index of the first photo (its seed)")
    parser.add_argument("--faces", type=int, default=16, help="faces per photo (default 16: 2 of each size)")
    parser.add_argument("--thresholds", default=str(detect.HOG_THRESHOLD), help="comma-separated HOG score thresholds")
    parser.add_argument("--min-face", type=int, default=12)
    args = parser.parse_args(argv)
    files = image_files(args.portraits)
    photos = []
    for p in range(args.first, args.first + args.photos):
        chosen = [files[(p * args.faces + i) % len(files)] for i in range(args.faces)]
        sizes = [SIZES[i % len(SIZES)] for i in range(args.faces)]
        photos.append(crowd_photo([Image.open(f) for f in chosen], sizes, seed=p))
    print(f"photos {args.first}-{args.first + args.photos - 1}: {sum(len(b) for _, b in photos)} faces placed; "
          f"recall per face size (px):")
    print(f"{'detector':>10} " + " ".join(f"{s:>5}" for s in SIZES) + f" {'precision':>10} {'framing':>8} {'s/photo':>8}")

    thresholds = sorted(float(t) for t in args.thresholds.split(","))
    start = time.perf_counter()
    scored = [detect.scored_faces(photo, args.min_face, thresholds[0]) for photo, _ in photos]
    hog_seconds = (time.perf_counter() - start) / len(photos)
    for threshold in reversed(thresholds):
        default = threshold == detect.HOG_THRESHOLD
        offsets = report(f"hog {threshold:+.1f}" + (" *" if default else ""),
                         [[box for box, score in found if score >= threshold] for found in scored], photos, hog_seconds)
        if default:
            dx, dy, side = np.median(offsets, axis=0)
            current = detect.HOG_OFFSET
            print(f"offset of the default's matched faces (median, in face sides; the HOG_OFFSET to use): "
                  f"({current[0] + dx:.3f}, {current[1] + dy:.3f}, "
                  f"{current[2] * side:.3f}); now {current}")
    report("detect_faces", [[box for box, score in found if score >= detect.HOG_THRESHOLD and detect.is_kept(box, score)]
                             for found in scored], photos, hog_seconds)  # the default, with the large-face rule
    start = time.perf_counter()
    haar = [detect.haar_faces(np.asarray(photo.convert("L"))) for photo, _ in photos]
    report("haar", haar, photos, (time.perf_counter() - start) / len(photos))
    print("* the default (srnam.faces.detect.HOG_THRESHOLD); detect_faces: that threshold, and 0 from LARGE_FACE px on; "
          "s/photo: the HOG rows share one run at the lowest threshold")


def report(name: str, detections: list[list[framing.Box]], photos, seconds: float) -> np.ndarray:
    """Print one row; return the matched detections' offsets from their true boxes [matched, 3]: centre
    (dx, dy) in true face sides and the side ratio."""
    found = {s: [0, 0] for s in SIZES}
    framed, offsets = [], []
    detected = true_detections = 0
    for found_boxes, (_, truth) in zip(detections, photos):
        matched = match(found_boxes, truth)
        detected += len(found_boxes)
        true_detections += sum(m is not None for m in matched)
        for box, m in zip(truth, matched):
            size = min(SIZES, key=lambda s: abs(s - (box[2] - box[0])))
            found[size][0] += m is not None
            found[size][1] += 1
            if m is not None:
                d, side = found_boxes[m], box[2] - box[0]
                framed.append(framing.iou(detect.framing_from_detection(d), detect.framing_from_detection(box)))
                offsets.append(((d[0] + d[2] - box[0] - box[2]) / 2 / side, (d[1] + d[3] - box[1] - box[3]) / 2 / side,
                                (d[2] - d[0]) / side))
    recall = " ".join(f"{hit / total:5.0%}" if total else "  n/a" for hit, total in found.values())
    print(f"{name:>10} {recall} {true_detections / max(detected, 1):>10.1%} "
          f"{np.median(framed) if framed else float('nan'):8.2f} {seconds:8.2f}", flush=True)
    return np.array(offsets).reshape(-1, 3)


if __name__ == "__main__":
    main()
