"""Compare latent handling ("sphere" vs "free") and learning rates for the latent search.

Targets are LR images made by the models themselves, D(G(z_true), n_true), so a perfect search can
reach L1 ≈ 0 (up to the unknown degradation noise). Prints the mean final L1 per setting.

    python benchmarks/latent_handling.py --model checkpoints/default   # trained models
    python benchmarks/latent_handling.py                              # seeded untrained 'small' models
"""
from __future__ import annotations

import argparse
import itertools
import time

import torch

from srnam.models import DEGRADATION_CHANNELS, PROGAN_CHANNELS, DegradationGenerator, ProGANGenerator
from srnam.search import latent_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="pipeline folder or Hub repo; default: seeded untrained small models")
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lrs", default="0.01,0.03,0.05,0.1,0.2")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.model:
        from srnam import SRNAMPipeline

        pipe = SRNAMPipeline.from_pretrained(args.model, device="cpu")
        generator, degradation = pipe.generator, pipe.degradation
    else:
        generator = ProGANGenerator(latent_size=128, channels=PROGAN_CHANNELS["small"]).eval()
        degradation = DegradationGenerator(channels=DEGRADATION_CHANNELS["tiny"]).eval()
    rng = torch.Generator().manual_seed(1)
    with torch.no_grad():
        z_true = torch.randn(args.targets, generator.latent_size, generator=rng)
        n_true = torch.randn(args.targets, degradation.noise_size, generator=rng)
        targets = degradation(generator(z_true), n_true)
    print(f"{'constraint':>10} {'lr':>6} {'L1 start':>9} {'L1 final':>9} {'best-of-K':>9} {'s':>6}")
    for constraint, lr in itertools.product(["sphere", "free"], [float(x) for x in args.lrs.split(",")]):
        start = time.perf_counter()
        result = latent_search(generator, degradation, targets, num_candidates=args.candidates, num_steps=args.steps,
                               learning_rate=lr, generator_rng=torch.Generator().manual_seed(2),
                               latent_constraint=constraint)
        print(f"{constraint:>10} {lr:>6} {result.loss_history[0].mean():9.4f} {result.l1.mean():9.4f} "
              f"{result.l1.min(dim=1).values.mean():9.4f} {time.perf_counter() - start:6.1f}")


if __name__ == "__main__":
    main()
