"""``srnam quickstart``: the whole pipeline on an example, with nothing to download.

Until the trained checkpoints ship, the example uses seeded, *untrained* models and a target they can
reach exactly: the LR image ``D(G(z_true), n)`` of a known latent. The search starts from random
latents and must drive the LR error down; the output grid shows candidates next to the true face.
It demonstrates the mechanics (loading, search, callback, outputs), not face quality.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .grid import make_grid
from .images import tensor_to_pil
from .models import DEGRADATION_CHANNELS, PROGAN_CHANNELS, DegradationGenerator, ProGANGenerator
from .pipeline import SRNAMPipeline


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart", help="run the pipeline end to end on a self-made example (no download)",
        description=__doc__ + "\nexample:\n  srnam quickstart --out quickstart_out --steps 150",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("quickstart_out"), help="output folder")
    parser.add_argument("-k", "--candidates", type=int, default=4)
    parser.add_argument("-n", "--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    print("untrained example models: shows the mechanics of the search, not face quality")
    pipe = SRNAMPipeline(ProGANGenerator(latent_size=128, channels=PROGAN_CHANNELS["small"]),
                         DegradationGenerator(channels=DEGRADATION_CHANNELS["tiny"]))
    folder = pipe.save_pretrained(args.out / "pipeline")
    pipe = SRNAMPipeline.from_pretrained(folder)  # the same loading path as a Hub repo
    print(f"saved and reloaded the pipeline: {folder}  (device: {pipe.device})")

    rng = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        z_true = torch.randn(1, pipe.generator.latent_size, generator=rng).to(pipe.device)
        hr_true = pipe.generator(z_true)
        lr_true = pipe.degradation(hr_true, torch.randn(1, pipe.degradation.noise_size, generator=rng).to(pipe.device))
    target = tensor_to_pil(lr_true[0])

    def report(state):
        if state.step == 1 or state.step % 25 == 0 or state.step == state.num_steps:
            print(f"step {state.step:4d}/{state.num_steps}  L1 per candidate: "
                  + " ".join(f"{v:.3f}" for v in state.l1[0].tolist()))

    start = time.perf_counter()
    out = pipe(target, num_candidates=args.candidates, num_steps=args.steps, seed=args.seed, callback=report)
    seconds = time.perf_counter() - start
    grid_path = args.out / "grid.png"
    make_grid(out, reference=tensor_to_pil(hr_true[0])).save(grid_path)
    first = sum(h[0] for h in out.loss_history) / len(out.loss_history)
    print(f"{args.candidates} candidates × {args.steps} steps in {seconds:.1f} s; mean LR L1 {first:.3f} → "
          f"{sum(out.lr_l1) / len(out.lr_l1):.3f} (best {out.lr_l1[0]:.3f})")
    print(f"grid (reference face, then candidates best first): {grid_path}")
    return 0
