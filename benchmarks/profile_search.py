"""Where a search step's time goes: torch.profiler over a few steps, the operators with the most time of their
own (not counting the operators they call), per step. This is how the fused layers of srnam.models were found.
On CUDA the times are the CPU side of each operator (its launch), which is what bounds a step there.

    python benchmarks/profile_search.py                  # checkpoints/default, K = 8, by operator
    python benchmarks/profile_search.py --k 1 --by-shape # split by input shapes: which layer is it?
"""
from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from srnam.search import latent_search
from search_throughput import models_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="pipeline folder or Hub repo (default: checkpoints/default)")
    parser.add_argument("--preset", default="compact", help="untrained models when there is no model")
    parser.add_argument("--k", type=int, default=8, help="candidates in the batch")
    parser.add_argument("--steps", type=int, default=10, help="steps profiled (after 3 warm-up steps)")
    parser.add_argument("--by-shape", action="store_true", help="one row per operator and input shapes")
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    generator, degradation, description, device = models_for(args)
    target = torch.zeros(1, 3, degradation.lr_size, degradation.lr_size, device=device)
    latent_search(generator, degradation, target, num_candidates=args.k, num_steps=3)  # warm-up: first-call costs are not the step's
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities, record_shapes=args.by_shape) as profiler:
        latent_search(generator, degradation, target, num_candidates=args.k, num_steps=args.steps)
    events = profiler.key_averages(group_by_input_shape=args.by_shape)
    total = sum(event.self_cpu_time_total for event in events) / args.steps / 1000
    print(f"{description}, K={args.k}, {device}, {torch.get_num_threads()} threads: {total:.1f} ms of operator "
          f"self time per step (the profiler adds some, and the search's final forward pass, which makes the "
          f"returned candidates, is shared among the steps)\n")
    print(f"| operator | ms per step | calls per step | share |{' input shapes |' if args.by_shape else ''}")
    print(f"|---|---|---|---|{'---|' if args.by_shape else ''}")
    for event in sorted(events, key=lambda e: -e.self_cpu_time_total)[:args.rows]:
        ms = event.self_cpu_time_total / args.steps / 1000
        shapes = f" {str(event.input_shapes)[:100]} |" if args.by_shape else ""
        print(f"| {event.key[:60]} | {ms:.2f} | {event.count / args.steps:.0f} | {100 * ms / total:.0f}% |{shapes}")


if __name__ == "__main__":
    main()
