"""A slow search, or a generator that cannot fit? The search's LR fit after N steps, per generator, beside the
ground truth's own fit.

    python benchmarks/search_convergence.py checkpoints/default train/default_checkpoint/warm_start \
        --faces ../shared/data/faces128/dev --skip 400 --limit 16 -k 8 --marks 150,300,500

The LR inputs are made from the faces by the camera model (``--degradation``, default the shipped one), as
``srnam evaluate --lr-source degrade`` makes them, and every generator searches them with that camera and
the same seed. At each mark the table gives the LR PSNR of the K candidates' 8-bit projections against the input:
their mean and the mean over the faces of the best of K. The last row is the true face projected as a candidate
is (with noise of its own): what a search that found it would score. If the gap between two generators stays as
the steps grow, more steps will not close it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from srnam import images
from srnam.evaluation.run import CROPS, load_faces, make_lr_inputs, truth_lr_psnr
from srnam.models import DegradationGenerator, load_generator
from srnam.search import DEFAULT_LEARNING_RATE, latent_search
from srnam.training.run import find_model_folder


def fit_over_steps(generator, degradation, lr: torch.Tensor, marks: list[int], num_candidates: int,
                   learning_rate: float, seed: int) -> dict[int, torch.Tensor]:
    """Step → LR PSNR [N, K] of the 8-bit projections after that many steps, for inputs ``lr`` [N, 3, 16, 16]."""
    target = images.to_unit_range(lr)[:, None]
    fits = {}

    def record(state) -> None:
        if state.step in marks:  # state.lr is the projection before this step's update: after step - 1 updates
            fits[state.step] = images.psnr(images.round_to_8bit(images.to_unit_range(state.lr)), target)

    latent_search(generator, degradation, lr, num_candidates=num_candidates, num_steps=max(marks),
                  learning_rate=learning_rate, generator_rng=torch.Generator().manual_seed(seed), callback=record)
    return fits


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generators", nargs="+", type=Path, help="pipeline folders, runs, exports or snapshots")
    parser.add_argument("--faces", type=Path, required=True, help="held-out portraits (corpus framing)")
    parser.add_argument("--crop", choices=CROPS, default="corpus")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N faces (sorted by name)")
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("-k", "--candidates", type=int, default=8)
    parser.add_argument("--marks", default="150,300,500", help="steps to report, comma-separated")
    parser.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE)
    parser.add_argument("--degradation", type=Path, default=Path("checkpoints/default"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    marks = sorted({int(mark) for mark in args.marks.split(",")})
    if marks[0] < 1:
        parser.error(f"--marks must be steps of 1 or more, got {args.marks}")

    degradation = DegradationGenerator.from_folder(find_model_folder(args.degradation, "degradation")).eval()
    names, hr, *_ = load_faces(args.faces, args.crop, args.skip + args.limit)
    names, hr = names[args.skip:], hr[args.skip:]
    lr = make_lr_inputs(hr, names, "degradation", degradation, args.seed)  # [N, 3, 16, 16], 8-bit values
    print(f"{len(names)} faces from {args.faces} [{args.skip}:{args.skip + len(names)}], K = {args.candidates}, "
          f"learning rate {args.learning_rate}; LR PSNR dB, mean of K / best of K")
    print("| generator | " + " | ".join(f"{mark} steps" for mark in marks) + " |")
    print("|---|" + "---|" * len(marks))
    for folder in args.generators:
        generator = load_generator(find_model_folder(folder, "generator")).eval()
        fits = fit_over_steps(generator, degradation, lr, marks, args.candidates, args.learning_rate, args.seed)
        print(f"| {folder} | " + " | ".join(f"{fits[m].mean():.2f} / {fits[m].max(dim=1).values.mean():.2f}"
                                            for m in marks) + " |", flush=True)
    truth = truth_lr_psnr(degradation, hr, lr, names, args.candidates, args.seed)
    cell = f"{truth.mean():.2f} / {truth.max(dim=1).values.mean():.2f}"  # the same at every step: no search
    print("| ground truth (any step) | " + " | ".join([cell] * len(marks)) + " |")


if __name__ == "__main__":
    main()
