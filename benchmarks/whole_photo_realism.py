"""Whole photos: are the faces SR-NAM puts in more like real faces than bicubic's? (srnam/evaluation/whole_photo.py)

    python benchmarks/whole_photo_realism.py ../shared/data/faces128/dev --reference ../shared/data/faces128/train
    python benchmarks/whole_photo_realism.py DEV --reference TRAIN --photos 6 --faces 8 --sizes 20,35 -k 4 -n 300 \\
        --figure crowd_faces.png --json crowd_realism.json

``--photos`` synthetic crowds of ``--faces`` dev portraits each (face widths drawn from ``--sizes``) go through
``enhance_photo`` as a user's photo would (detection, alignment, one batched search). For every face the detector
found, the table gives the face FD of the truth (the floor at this set size), of bicubic (the searched square
enlarged from the photo's pixels), of SR-NAM's candidates and of the same square of the composed photo (the
candidate as pasted: colour-matched and feathered in), against ``--reference-limit`` real faces, with
sharpness against the truth and face-ness. Lower FD is more like real faces. Needs the ``metrics`` extra (dlib).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from srnam import SRNAMPipeline
from srnam.evaluation.metrics import FaceAnalyser
from srnam.evaluation.run import load_faces
from srnam.evaluation.whole_photo import crowd_faces, crowd_realism
from srnam.grid import make_grid
from srnam.images import to_unit_range
from srnam.pipeline import DEFAULT_CHECKPOINT
from srnam.search import SearchSettings
from srnam.training.data import image_files


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portraits", type=Path, help="folder of faces128-style portraits (e.g. faces128/dev)")
    parser.add_argument("--reference", type=Path, required=True, help="real faces, disjoint from the portraits")
    parser.add_argument("--reference-limit", type=int, default=1000)
    parser.add_argument("--model", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--faces", type=int, default=8, help="faces per photo")
    parser.add_argument("--sizes", default="20,35", help="smallest,largest face width in px (default 20,35)")
    parser.add_argument("-k", "--candidates", type=int, default=4)
    parser.add_argument("-n", "--steps", type=int, default=300)
    parser.add_argument("--figure", type=Path, help="save the first faces as truth / bicubic / SR-NAM / as pasted rows here")
    parser.add_argument("--json", type=Path, help="save the figures here")
    args = parser.parse_args(argv)
    low, high = (int(v) for v in args.sizes.split(","))
    if args.reference.resolve() == args.portraits.resolve():
        raise SystemExit("--reference must be other faces than the portraits (disjoint sets)")

    pipe = SRNAMPipeline.from_pretrained(args.model)
    print(f"{args.photos} crowds × {args.faces} faces of {low}–{high} px, {args.candidates} candidates × "
          f"{args.steps} steps; {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    faces = crowd_faces(pipe, image_files(args.portraits), photos=args.photos, faces_per_photo=args.faces,
                        face_sizes=(low, high), search=SearchSettings(args.candidates, args.steps))
    analyser = FaceAnalyser()
    reference = analyser.descriptors(to_unit_range(load_faces(args.reference, "corpus", args.reference_limit).hr))
    figures = crowd_realism(faces, reference, analyser)
    print(f"{figures['faces']} of {figures['placed']} faces found and scored; face FD against "
          f"{len(reference)} real faces:")
    print(f"{'':>28} {'face FD':>8} {'sharpness':>10} {'face-ness':>10}")
    for key, label in (("truth", "truth (the floor)"), ("bicubic", "bicubic"),
                       ("srnam_first", "SR-NAM, first candidate"), ("srnam_mean_of_k", "SR-NAM, mean over k"),
                       ("pasted_first", "as pasted, first candidate"), ("pasted_mean_of_k", "as pasted, mean over k")):
        row = figures[key]
        print(f"{label:>28} {row['face_fd']:8.3f} {row['sharpness']:10.2f} {row['faceness']:10.0%}")
    for key, label in (("srnam_first", "first candidate"), ("pasted_first", "first candidate as pasted")):
        print(f"SR-NAM's {label} against bicubic: {figures[key]['face_fd'] - figures['bicubic']['face_fd']:+.3f} face FD")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if args.figure:
        shown = range(min(8, len(faces.truth)))
        columns = [[faces.truth[i], faces.bicubic[i], faces.srnam[i, 0], faces.pasted[i, 0]] for i in shown]
        make_grid(columns, [f"{faces.sizes[i]} px" for i in shown], cell=96).save(args.figure)
        print(f"truth / bicubic / SR-NAM / as pasted: {args.figure}")


if __name__ == "__main__":
    main()
