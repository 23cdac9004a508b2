"""Measure where the five landmarks sit in the corpus's training framing: ``srnam.faces.alignment.CORPUS_LANDMARKS``.

For each of the first ``--count`` sorted images of a faces128 folder, dlib's 5-point predictor runs on the
face's training-framing square (``CORPUS_BOX``), and the landmarks are written in fractions of that square's side.
Prints the medians (the constant to paste into srnam/faces/alignment.py), their spread (5th-95th percentiles), and how
well a similarity to the medians fits each face (the RMS residual, in fractions of the side).

    python train/calibrate_alignment.py ../shared/data/faces128/dev        # its 500 faces
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from srnam.faces.alignment import Similarity, face_landmarks, fit_similarity
from srnam.training.data import image_files
from srnam.faces.framing import CORPUS_BOX


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="faces128 images (128×128, the corpus framing)")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args(argv)
    framing = Similarity.of_box(CORPUS_BOX)
    points = np.stack([framing.to_unit(face_landmarks(Image.open(path).convert("RGB"), framing))
                       for path in image_files(args.folder)[:args.count]])  # [N, 5, 2]
    median = np.median(points, axis=0)
    print(f"{len(points)} faces of {args.folder}; landmarks in the training framing (fractions of its side):")
    low, high = np.percentile(points, 5, axis=0), np.percentile(points, 95, axis=0)
    for i, name in enumerate(("image-right eye, outer", "image-right eye, inner", "image-left eye, outer",
                             "image-left eye, inner", "nose")):
        print(f"  {name:22s} x {median[i, 0]:.4f} ({low[i, 0]:.3f}–{high[i, 0]:.3f})  "
              f"y {median[i, 1]:.4f} ({low[i, 1]:.3f}–{high[i, 1]:.3f})")
    residual = [np.sqrt(((fit_similarity(median, p).to_photo(median) - p) ** 2).sum(1).mean()) for p in points]
    print(f"RMS residual of each face's similarity fit: median {np.median(residual):.4f}, "
          f"95th percentile {np.percentile(residual, 95):.4f}")
    print("CORPUS_LANDMARKS = np.array([\n    " + ", ".join(f"[{x:.4f}, {y:.4f}]" for x, y in median) + ",\n])")


if __name__ == "__main__":
    main()
