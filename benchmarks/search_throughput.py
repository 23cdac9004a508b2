"""Latent-search throughput: candidate-steps per second for several K, batched against sequential, the
achieved FLOP/s as a share of the machine's measured matmul peak, and peak memory.

    python benchmarks/search_throughput.py                         # checkpoints/default, else untrained 'compact' models
    python benchmarks/search_throughput.py --preset paper --steps 2 --rounds 1
    python benchmarks/search_throughput.py --model user/srnam-faces --ks 1,8,32

* Batched: K candidates of one LR image in one batch, as ``latent_search`` runs them.
* Sequential: the same K candidates one at a time (K searches with K = 1), the way the paper ran them.
* FLOPs: counted by ``torch.utils.flop_counter.FlopCounterMode`` for one search step (forward through G and
  D, backward to the latents only, since the weights are frozen), per candidate. Convolutions and matmuls
  are counted; the elementwise layers between them are not, and do not reach a matmul's FLOP rate anyway.
* Peak: the best FLOP/s of a square float32 matmul of side --matmul-size, on the same threads, timed
  between the searches.
* Memory: on CUDA the allocator's peak during the search; on the CPU the peak resident set size of a fresh
  process running one search (Python, torch, the models and the search), and how much the search added.

Each configuration is timed --rounds times, the rounds interleaved, and the fastest is reported: other work
on a shared machine only ever slows a round down. The load average is printed for that reason. The speed
does not depend on the weights' values, so untrained presets are as good as trained models for this.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from srnam.models import DegradationGenerator, ProGANGenerator
from srnam.search import latent_search
from srnam.training.degradation import DEGRADATION_CONFIGS
from srnam.training.precision import describe_cpu
from srnam.training.progan import PROGAN_CONFIGS
from srnam.pipeline import DEFAULT_CHECKPOINT

PRESETS = {  # the trainers' configs: (ProGAN config, degradation config)
    "compact": ("compact", "compact"),  # the widths of the shipped checkpoints/default
    "small": ("small", "small"),  # twice as wide
    "paper": ("paper", "default"),  # the paper's ProGAN widths and the default degradation model
    "tiny": ("tiny", "tiny"),  # test size
}


def build_models(model: str | None, preset: str, device: str) -> tuple[ProGANGenerator, DegradationGenerator, str]:
    """The generator and degradation model of a pipeline (folder or Hub id), else of a preset, seeded; frozen
    (no weight gradients), as the search uses them."""
    if model:
        from srnam import SRNAMPipeline

        pipe = SRNAMPipeline.from_pretrained(model, device=device)
        return pipe.generator.requires_grad_(False), pipe.degradation.requires_grad_(False), model
    progan, degradation = (PROGAN_CONFIGS[PRESETS[preset][0]], DEGRADATION_CONFIGS[PRESETS[preset][1]])
    torch.manual_seed(0)
    generator = ProGANGenerator(progan.latent_size, progan.channels)
    degrader = DegradationGenerator(degradation.noise_size, degradation.channels)
    generator, degrader = (m.to(device).eval().requires_grad_(False) for m in (generator, degrader))
    return generator, degrader, f"preset {preset}: G {progan.channels}, D {degradation.channels}"


def models_for(args: argparse.Namespace) -> tuple[ProGANGenerator, DegradationGenerator, str, str]:
    """The models a benchmark's command line asks for, on CUDA if there is one, else the CPU: ``--model``
    (default: the shipped checkpoints/default, written back into ``args`` for workers that load them again),
    else ``--preset``; ``--threads`` where the script has it. Returns G, D, their description, the device."""
    if args.model is None and DEFAULT_CHECKPOINT.is_dir():
        args.model = str(DEFAULT_CHECKPOINT)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return (*build_models(args.model, args.preset, device), device)


def search(generator, degradation, k: int, steps: int) -> None:
    target = torch.zeros(1, 3, degradation.lr_size, degradation.lr_size, device=next(generator.parameters()).device)
    latent_search(generator, degradation, target, num_candidates=k, num_steps=steps, generator_rng=torch.Generator().manual_seed(0))


def timed(device: str, run) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def flops_per_candidate_step(generator, degradation, k: int = 4) -> float:
    """FLOPs of one search step per candidate: G and D forward, the L1, and the backward pass to the latents
    only, as in ``latent_search``. (Counted on a step written out here: the counter's module hooks do not
    work inside the ``torch.autograd.grad`` call that the search uses.)"""
    device = next(generator.parameters()).device
    z = torch.randn(k, generator.latent_size, device=device, requires_grad=True)
    noise = torch.randn(k, degradation.noise_size, device=device)
    target = torch.zeros(k, 3, degradation.lr_size, degradation.lr_size, device=device)
    with FlopCounterMode(display=False) as counter:
        (degradation(generator(z), noise) - target).abs().mean(dim=(1, 2, 3)).sum().backward()
    return counter.get_total_flops() / k


def matmul(device: str, size: int):
    """A float32 [size × size] @ [size × size] matmul to time, and its FLOPs."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    return (lambda: a @ b), 2 * size ** 3


def memory_in_fresh_process(args: argparse.Namespace, k: int) -> tuple[float, float]:
    """CPU: the peak resident set of a new process that runs one K-candidate search, and how much of it
    the search added (activations, gradients, oneDNN's buffers), in MiB. A new process, because this one's
    allocator keeps the memory of earlier runs, which would hide the growth."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_memory_worker, (args.model, args.preset, k, torch.get_num_threads()))


def _memory_worker(model: str | None, preset: str, k: int, threads: int) -> tuple[float, float]:
    torch.set_num_threads(threads)
    generator, degradation, _ = build_models(model, preset, "cpu")
    before = _status_mib("VmRSS")
    search(generator, degradation, k, 2)
    peak = _status_mib("VmHWM")  # not ru_maxrss: Linux carries that over from the parent across exec
    return peak, peak - before


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="pipeline folder or Hub repo (default: checkpoints/default if it exists)")
    parser.add_argument("--preset", choices=PRESETS, default="compact", help="untrained models when there is no model")
    parser.add_argument("--ks", default="1,4,8,16", help="candidate counts to time (comma-separated)")
    parser.add_argument("--sequential-k", type=int, default=8, help="K for batched against sequential")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed search")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per configuration (the fastest counts)")
    parser.add_argument("--full-steps", type=int, default=300, help="steps to report a search time for")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.sequential_k < 1:  # its rate divides every batched one
        parser.error(f"--sequential-k must be at least 1, got {args.sequential_k}")
    generator, degradation, description, device = models_for(args)
    ks = [int(k) for k in args.ks.split(",")]
    hardware = torch.cuda.get_device_name(0) if device == "cuda" else \
        f"{describe_cpu()}; {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads"
    print(f"machine: {hardware}; torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"models: {description}")

    flops = flops_per_candidate_step(generator, degradation)
    print(f"{flops / 1e9:.2f} GFLOP per candidate-step")
    run_matmul, matmul_flops = matmul(device, args.matmul_size)

    # A configuration is K candidates searched in batches of B: B = K batched, B = 1 sequential.
    configurations = {f"batched K={k}": (k, k) for k in ks}
    configurations[f"sequential K={args.sequential_k}"] = (args.sequential_k, 1)

    def run(candidates: int, batch: int) -> None:
        for _ in range(candidates // batch):
            search(generator, degradation, batch, args.steps)

    # Each batch size once as a warm-up (first-call costs: allocator, oneDNN's kernel choice), then timed
    # rounds with the configurations interleaved, so that a burst of other work hits all of them alike.
    for _, batch in configurations.values():
        search(generator, degradation, batch, 1)
    seconds = {name: [] for name in configurations}
    matmul_seconds = []
    for _ in range(args.rounds):
        for name, (candidates, batch) in configurations.items():
            seconds[name].append(timed(device, lambda: run(candidates, batch)) / args.steps)  # per step of K
            matmul_seconds.append(min(timed(device, run_matmul) for _ in range(3)))  # the peak, in the same moments
    peak = matmul_flops / min(matmul_seconds)
    print(f"float32 matmul peak {peak / 1e9:.0f} GFLOP/s ({args.matmul_size}², fastest of {3 * len(matmul_seconds)})")

    print(f"\n| configuration | ms per step | candidate-steps/s | {args.full_steps} steps | GFLOP/s | "
          f"% of matmul peak | peak memory MiB |")
    print("|---|---|---|---|---|---|---|")
    rates = {}
    for name, (candidates, batch) in configurations.items():
        per_step = min(seconds[name])
        rates[name] = candidates / per_step
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            search(generator, degradation, batch, 2)
            memory = f"{torch.cuda.max_memory_allocated() / 2**20:.0f} (allocator peak)"
        else:
            resident, growth = memory_in_fresh_process(args, batch)
            memory = f"{resident:.0f} (search: +{growth:.0f})"
        print(f"| {name} | {per_step * 1000:.0f} (median {statistics.median(seconds[name]) * 1000:.0f}) | "
              f"{rates[name]:.1f} | {per_step * args.full_steps:.1f} s | {flops * rates[name] / 1e9:.1f} | "
              f"{100 * flops * rates[name] / peak:.0f}% | {memory} |")
    # Sequential candidate-steps per second do not depend on K (each candidate is its own search), so every
    # batch size can be compared with the same sequential rate.
    sequential = rates[f"sequential K={args.sequential_k}"]
    print("\nbatched / sequential, candidate-steps per second: " + ", ".join(
        f"K={k} {rates[f'batched K={k}'] / sequential:.2f}×" for k in ks))
    print(f"load average {os.getloadavg()[0]:.1f} at the end; {args.rounds} rounds of {args.steps} steps, fastest "
          f"shown (median in brackets)")


if __name__ == "__main__":
    main()
