"""``srnam quickstart``: the shipped models on an example face, with nothing to download.

It loads ``checkpoints/default`` through ``SRNAMPipeline.from_pretrained()``, cuts the face out of one of the
demo's example portraits (64×64, the ground truth), turns it into a 16×16 photo with the degradation model,
and searches for candidates. It prints the LR error falling, each candidate's PSNR against the ground truth
next to plain bicubic upsampling, and saves the comparison grid (ground truth first).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from ..errors import InvalidImageError, ModelLoadError
from ..faces.detect import crop_face
from ..grid import candidate_grid
from ..faces.lr_sources import make_lr_images
from ..images import open_image, pil_to_tensor, psnr, round_to_8bit, to_unit_range
from .common import (OK, USAGE, UsageError, add_model_option, add_search_options, load_pipeline, report_error,
                     search_settings)

EXAMPLE = Path(__file__).resolve().parents[2] / "demo" / "examples" / "dev_00001.jpg"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart", help="run the shipped models end to end on an example face (no download)",
        description=__doc__ + "\nexample:\n  srnam quickstart --out quickstart_out --steps 300",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("quickstart_out"), help="output folder")
    parser.add_argument("--image", type=Path, default=EXAMPLE, help="a portrait (default: a demo example)")
    add_model_option(parser)
    add_search_options(parser, candidates=4, what="face")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        pipe = load_pipeline(args)
        photo = open_image(args.image, square=False)
    except (ModelLoadError, UsageError, InvalidImageError) as err:
        report_error("quickstart", err)
        return USAGE
    print(f"models: {args.model or 'the shipped checkpoints/default'} (device: {pipe.device})")
    face, found = crop_face(photo, 64)
    shown = EXAMPLE.relative_to(EXAMPLE.parents[2]) if args.image == EXAMPLE else args.image  # as the README
    print(f"face {'found' if found else 'not found (centre crop)'} in {shown}")
    truth = pil_to_tensor(face)  # [1, 3, 64, 64] in [-1, 1]
    (lr,) = make_lr_images([face], "degrade", pipe.degradation, [args.seed])  # the 16×16 "photo"

    def report(state):
        if state.step == 1 or state.step % 50 == 0 or state.step == state.num_steps:
            print(f"step {state.step:4d}/{state.num_steps}  LR L1 per start: "
                  + " ".join(f"{v:.3f}" for v in state.l1[0].tolist()))

    start = time.perf_counter()
    (out,) = pipe.run([lr], search_settings(args, args.seed), report, output_type="pt")
    seconds = time.perf_counter() - start
    bicubic = pil_to_tensor(lr.resize((64, 64), Image.Resampling.BICUBIC))
    scores = psnr(round_to_8bit(out.hr_candidates), to_unit_range(truth)).tolist()  # [K] from [K, 3, 64, 64]
    print(f"{args.candidates} candidates × {args.steps} steps in {seconds:.1f} s; final LR L1, best first (as in "
          f"the grid): " + " ".join(f"{v:.3f}" for v in out.lr_l1))
    print("HR PSNR against the ground truth (dB), best LR consistency first: "
          + " ".join(f"{v:.2f}" for v in scores)
          + f"; bicubic upsampling {psnr(to_unit_range(bicubic), to_unit_range(truth)).item():.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    grid_path = args.out / "grid.png"
    candidate_grid(out.hr_candidates, out.lr_projections, out.lr_input, out.lr_l1, reference=face).save(grid_path)
    print(f"grid (ground truth, then candidates best first): {grid_path}")
    return OK
