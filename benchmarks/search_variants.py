"""Which speed-ups of the latent search pay on this device, and what each does to the results.

    python benchmarks/search_variants.py                      # the variants that apply to this device
    python benchmarks/search_variants.py --variants float32,bfloat16 --ks 8 --quality-steps 0

For each variant it prints the time per search step at each K (fastest of --rounds, after a warm-up whose
time is printed too: that is where torch.compile compiles), and two checks of the results:

* **error vs float64**: one step at K = 8 (G, D, L1, gradient to z) against the same step in float64 on
  the CPU: the largest error of G(z) and the relative error of the gradient. Float noise is ~1e-5 and
  ~1e-3; bfloat16 is about 100× more.
* **final L1**: a --quality-steps search of 4 reachable targets (D(G(z*)) for random z*) × 4 candidates,
  the mean L1 at the end. Adam turns any rounding difference into a different trajectory, so a variant
  passes when it reaches the same L1, not the same latents.

Variants (those that do not apply to the device are skipped):
  float32            the library's default (CPU: channels_last activations; CUDA: NCHW, no TF32, deterministic cuDNN)
  nchw               CPU: the activation layout the CPU's default replaced
  channels_last      CUDA: the CPU's default layout, tried on the GPU
  torch-defaults     CUDA: torch's own cuDNN settings (TF32 allowed, algorithms not deterministic)
  bfloat16, float16  autocast (float16: CUDA only)
  compile            torch.compile (inductor) on G and D
  cudagraphs         CUDA: torch.compile(mode="reduce-overhead"), which replays CUDA graphs
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import time

import torch

import srnam.models.degradation
import srnam.models.progan
import srnam.models.style_student
from srnam.models.layers import fast_layout
from srnam.search import _ExactCudaMath, latent_search
from srnam.training.precision import describe_cpu
from search_throughput import models_for, timed

ALL_VARIANTS = ("float32", "nchw", "channels_last", "torch-defaults", "bfloat16", "float16", "compile", "cudagraphs")
CUDA_ONLY = {"torch-defaults", "float16", "cudagraphs"}


@contextlib.contextmanager
def layout(memory_format: torch.memory_format):
    """Overrides the models' activation layout (``fast_layout``) with ``memory_format``."""
    modules = (srnam.models.progan, srnam.models.degradation, srnam.models.style_student)
    for module in modules:
        module.fast_layout = lambda x: x.contiguous(memory_format=memory_format)
    try:
        yield
    finally:
        for module in modules:
            module.fast_layout = fast_layout


@contextlib.contextmanager
def cuda_math(settings: dict):
    """Replaces the cuDNN settings that ``latent_search`` applies on CUDA."""
    saved = dict(_ExactCudaMath.SETTINGS)
    _ExactCudaMath.SETTINGS.update(settings)
    try:
        yield
    finally:
        _ExactCudaMath.SETTINGS.update(saved)


class Variant:
    """The models and the settings one variant runs the search with."""

    def __init__(self, name: str, generator, degradation, device: str):
        self.name, self.device = name, device
        self.generator, self.degradation = generator, degradation
        if name in ("compile", "cudagraphs"):
            mode = "reduce-overhead" if name == "cudagraphs" else "default"
            # The compiled modules pass attribute reads (latent_size, noise_size, ...) on to the models.
            self.generator = torch.compile(generator, mode=mode)
            self.degradation = torch.compile(degradation, mode=mode)

    def context(self):
        stack = contextlib.ExitStack()
        if self.name == "nchw":
            stack.enter_context(layout(torch.contiguous_format))
        if self.name == "channels_last":
            stack.enter_context(layout(torch.channels_last))
        if self.name == "torch-defaults":
            stack.enter_context(cuda_math({"allow_tf32": True, "deterministic": False}))
        if self.name in ("bfloat16", "float16"):
            stack.enter_context(torch.autocast(self.device, dtype=getattr(torch, self.name)))
        return stack

    def search(self, target: torch.Tensor, k: int, steps: int, seed: int = 0):
        with self.context():
            return latent_search(self.generator, self.degradation, target, num_candidates=k, num_steps=steps,
                                 generator_rng=torch.Generator().manual_seed(seed), callback=self.step_begins)

    def step_begins(self, state=None) -> None:
        """CUDA graphs: tells the replayed graphs that a new step begins, so that the outputs of the last one
        (kept by the search) may be overwritten. Called after every step of the search."""
        if self.name == "cudagraphs":
            torch.compiler.cudagraph_mark_step_begin()

    def step(self, z: torch.Tensor, noise: torch.Tensor, target: torch.Tensor):
        """G(z) and the gradient of the summed L1 to z, as one search step computes them."""
        z = z.clone().requires_grad_(True)
        self.step_begins()
        with self.context(), _ExactCudaMath(z.device):
            hr = self.generator(z)
            l1 = (self.degradation(hr, noise) - target).abs().mean(dim=(1, 2, 3)).sum()
            (grad,) = torch.autograd.grad(l1, z)
        return hr.detach().float().cpu(), grad.float().cpu()


def reachable_targets(generator, degradation, count: int, seed: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    z = torch.randn(count, generator.latent_size, generator=rng).to(device)
    noise = torch.randn(count, degradation.noise_size, generator=rng).to(device)
    with torch.no_grad():
        return degradation(generator(z), noise).clamp(-1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="pipeline folder or Hub repo (default: checkpoints/default)")
    parser.add_argument("--preset", default="compact", help="untrained models when there is no model")
    parser.add_argument("--variants", default=",".join(ALL_VARIANTS))
    parser.add_argument("--ks", default="1,8,64")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed search")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality-steps", type=int, default=300, help="0: skip the final-L1 check")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    generator, degradation, description, device = models_for(args)
    hardware = torch.cuda.get_device_name(0) if device == "cuda" else f"{describe_cpu()}, {torch.get_num_threads()} threads"
    print(f"{hardware}; torch {torch.__version__}; models: {description}; load {os.getloadavg()[0]:.1f}")

    # The float64 reference step, on the CPU.
    rng = torch.Generator().manual_seed(1)
    z = torch.randn(8, generator.latent_size, generator=rng)
    noise = torch.randn(8, degradation.noise_size, generator=rng)
    target = torch.rand(8, 3, degradation.lr_size, degradation.lr_size, generator=rng) * 2 - 1
    reference = Variant("float64", copy.deepcopy(generator).cpu().double(), copy.deepcopy(degradation).cpu().double(),
                        "cpu").step(z.double(), noise.double(), target.double())
    quality_targets = reachable_targets(generator, degradation, 4, seed=2)
    ks = [int(k) for k in args.ks.split(",")]

    print("\n| variant | warm-up s | " + " | ".join(f"ms/step K={k}" for k in ks)
          + " | max error G(z) | gradient error | final L1 |")
    print("|---|---|" + "---|" * len(ks) + "---|---|---|")
    for name in args.variants.split(","):
        if name not in ALL_VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(ALL_VARIANTS)}")
        if device != "cuda" and name in CUDA_ONLY or name == {"cpu": "channels_last", "cuda": "nchw"}[device]:
            continue  # not on this device, or the same as float32 (the device's default layout)
        try:
            print(measure(Variant(name, generator, degradation, device), ks, args, reference, (z, noise, target),
                          quality_targets), flush=True)
        except Exception as error:  # a variant the installed torch cannot run (a compiler error, say): go on
            print(f"| {name} | failed: {type(error).__name__}: {str(error).splitlines()[0][:200]} |", flush=True)


def measure(variant: Variant, ks: list[int], args, reference, step_inputs, quality_targets) -> str:
    """The table row of one variant."""
    device, degradation = variant.device, variant.degradation
    z, noise, target = step_inputs
    lr_target = torch.zeros(1, 3, degradation.lr_size, degradation.lr_size, device=device)
    start = time.perf_counter()
    for k in ks:  # warm-up: the first call of every shape (compilation, cuDNN's and oneDNN's kernel choice)
        variant.search(lr_target, k, 2)
    warm_up = time.perf_counter() - start
    per_step = {k: min(timed(device, lambda: variant.search(lr_target, k, args.steps))
                       for _ in range(args.rounds)) / args.steps for k in ks}
    hr, grad = variant.step(z.to(device), noise.to(device), target.to(device))
    hr_error = (hr - reference[0].float()).abs().max().item()
    grad_error = ((grad - reference[1].float()).norm() / reference[1].float().norm()).item()
    final = "—"
    if args.quality_steps:
        result = variant.search(quality_targets, 4, args.quality_steps, seed=3)
        final = f"{result.l1.mean().item():.4f}"
    return (f"| {variant.name} | {warm_up:.1f} | " + " | ".join(f"{per_step[k] * 1000:.2f}" for k in ks)
            + f" | {hr_error:.1e} | {grad_error:.1e} | {final} |")


if __name__ == "__main__":
    main()
