"""Time the latent search: K candidates × N steps for a model size preset, on this machine.

    python benchmarks/search_speed.py --preset paper --candidates 8 --steps 10   # extrapolates to --full-steps
    python benchmarks/search_speed.py --preset small --candidates 8 --steps 300

Prints seconds per step, candidate-steps per second and the (measured or extrapolated) time for
--full-steps steps. Untrained weights: speed does not depend on the weights' values.
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from srnam.models import DEGRADATION_CHANNELS, PROGAN_CHANNELS, DegradationGenerator, ProGANGenerator
from srnam.nam import latent_search

PRESETS = {  # generator widths, degradation widths
    "paper": (PROGAN_CHANNELS["paper"], DEGRADATION_CHANNELS["default"]),
    "small": (PROGAN_CHANNELS["small"], DEGRADATION_CHANNELS["default"]),
    "tiny": (PROGAN_CHANNELS["tiny"], DEGRADATION_CHANNELS["tiny"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="paper")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="steps actually run")
    parser.add_argument("--full-steps", type=int, default=300, help="steps to report a time for")
    args = parser.parse_args()
    g_channels, d_channels = PRESETS[args.preset]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    generator = ProGANGenerator(channels=g_channels).to(device)
    degradation = DegradationGenerator(channels=d_channels).to(device)
    target = torch.zeros(1, 3, 16, 16, device=device)
    latent_search(generator, degradation, target, args.candidates, 2)  # warm-up
    start = time.perf_counter()
    latent_search(generator, degradation, target, args.candidates, args.steps)
    if device == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - start) / args.steps
    kind = "measured" if args.steps == args.full_steps else f"extrapolated from {args.steps} steps"
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}, "
          f"torch {torch.__version__}")
    print(f"preset {args.preset}: G {g_channels}, D {d_channels}")
    print(f"{args.candidates} candidates: {per_step * 1000:.0f} ms/step, "
          f"{args.candidates / per_step:.1f} candidate-steps/s; "
          f"{args.full_steps} steps: {per_step * args.full_steps:.1f} s ({kind})")


if __name__ == "__main__":
    main()
