"""Face alignment (``srnam.faces.alignment``) on tilted faces whose truth is known: dev faces rotated by a few angles.

    python benchmarks/alignment.py                                  # 16 dev faces at 0, ±15, ±30°, 4 × 300
    python benchmarks/alignment.py --faces 50 --angles 0,10,20,30,40 -k 8

Each dev face (128×128, the corpus framing) is rotated about its face's centre; a detector would give the
upright framing square around it (``CORPUS_BOX``). **Unaligned**: that square as it is. **Aligned**: the square
turned and scaled onto the corpus's landmarks (``align_face``). Each 64×64 crop gives its 16×16 input by 4× area
reduction and is searched; the table has, per angle and way, the candidates' LR PSNR (mean of K, against the
input), their face-ness (the Haar cascade finds a face in the candidate, as ``srnam evaluate`` counts it), and the
crop's own PSNR against the upright face's crop (how much of the face the framing kept). The last line is the
time alignment takes per face (landmarks twice, the fit; the warp).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from srnam import SRNAMPipeline
from srnam.faces.alignment import Similarity, align_face, aligned_crop
from srnam.training.data import image_files
from srnam.faces.framing import CORPUS_BOX
from srnam.evaluation.metrics import faces_found
from srnam.images import pil_to_tensor, psnr, to_unit_range
from srnam.pipeline import DEFAULT_CHECKPOINT

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces128" / "dev"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--model", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--angles", default="0,15,-15,30,-30")
    parser.add_argument("-k", "--candidates", type=int, default=4)
    parser.add_argument("-n", "--steps", type=int, default=300)
    args = parser.parse_args(argv)

    pipe = SRNAMPipeline.from_pretrained(args.model)
    photos = [Image.open(p).convert("RGB") for p in image_files(args.dev)[:args.faces]]
    upright = Similarity.of_box(CORPUS_BOX)
    centre = ((CORPUS_BOX[0] + CORPUS_BOX[2]) / 2, (CORPUS_BOX[1] + CORPUS_BOX[3]) / 2)
    truth = torch.cat([pil_to_tensor(aligned_crop(p, upright, 64)) for p in photos])
    seconds = []
    print(f"{len(photos)} dev faces, {args.candidates} candidates × {args.steps} steps, LR: 4× area reduction")
    print(f"{'angle':>6} {'framing':>10} {'LR PSNR dB':>11} {'face-ness':>10} {'crop vs upright dB':>19}")
    for angle in (float(a) for a in args.angles.split(",")):
        tilted = [p.rotate(angle, resample=Image.Resampling.BICUBIC, center=centre, fillcolor=(128, 128, 128))
                  for p in photos]
        for name in ("unaligned", "aligned"):
            crops = []
            for photo in tilted:
                start = time.perf_counter()
                framing = align_face(photo, CORPUS_BOX) if name == "aligned" else upright
                crops.append(pil_to_tensor(aligned_crop(photo, framing, 64)))
                if name == "aligned":
                    seconds.append(time.perf_counter() - start)
            hr = torch.cat(crops)
            lr = F.avg_pool2d(hr, 4)
            outputs = pipe(list(lr.add(1).div(2).clamp(0, 1)), num_candidates=args.candidates,
                           num_steps=args.steps, seed=0, output_type="pt")
            lr_db = np.mean([psnr(o.lr_projections, o.lr_input[None].expand_as(o.lr_projections)).mean().item()
                             for o in outputs])
            faceness = torch.cat([faces_found(o.hr_candidates * 2 - 1) for o in outputs]).mean().item()
            crop_db = psnr(to_unit_range(hr), to_unit_range(truth)).mean().item()
            print(f"{angle:6.0f} {name:>10} {lr_db:11.2f} {faceness:10.0%} {crop_db:19.2f}")
    print(f"alignment per face: median {np.median(seconds) * 1000:.1f} ms (landmarks twice, the fit, the warp)")


if __name__ == "__main__":
    main()
