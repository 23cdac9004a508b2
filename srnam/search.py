"""The latent search of Non-Adversarial Mapping (NAM), the heart of SR-NAM.

For an LR face ``y`` find latents ``z_1..z_K`` with ``D(G(z_k), n_k) ≈ y`` in L1 (paper eq. 6),
optimising only the latents with Adam while ``G`` and ``D`` stay frozen. Every candidate of every
image is one row of a single batch, so K candidates cost one forward/backward pass per step.

Latent handling. ``G`` starts with pixel norm, so ``G(z) == G(c·z)`` for any c > 0: only the
direction of ``z`` matters. Optimising a free ``z`` works, but each Adam step then also changes the
norm of ``z``; as the norm grows, the same step turns the direction less and the search slows down.
Following PULSE, ``"sphere"`` (the default) projects every latent back onto the sphere of radius
sqrt(latent_size) — where N(0, I) samples live — after each step, so the step size in *direction*
stays constant. ``benchmarks/latent_handling.py`` measures both: after 300 steps the sphere gave a
lower mean L1 at every learning rate from 0.1 up (0.025 vs 0.119 at the best rate; figures in the README).

The degradation noise. Each candidate has its own noise vector ``n_k`` of the camera model, drawn once. With
``optimize_noise=True`` the search optimises it together with ``z`` (the same Adam at its own learning rate,
kept on its own sphere, radius sqrt(noise_size)), so that the camera model may pick the degradation that
explains the input: a blurrier or noisier camera, instead of a different face.
"""
from __future__ import annotations

import secrets
import threading
import weakref
from dataclasses import dataclass, replace
from typing import Callable, Literal

import torch
from torch import nn

from .errors import check_int, check_rate
from .images import is_grey, lr_fit_view
from .models.eval_mode import eval_mode

# Chosen with benchmarks/latent_handling.py (README). Adam's other settings are its defaults; its default
# learning rate, 0.001, barely turns a latent of norm sqrt(512) ≈ 22.6 in 300 steps.
DEFAULT_LEARNING_RATE = 0.4
# A generator may ask for its own (a class attribute ``search_learning_rate``): the style-based students search
# better at 0.1. On the 24 selection faces (z, 8 × 150) the style student fit the inputs 1.5 dB closer at 0.1
# than at 0.4, with more realistic candidates; the trunk student's candidates broke at 0.4
# (train/default_checkpoint/distill_trials.md, item 11).


def search_learning_rate(generator: nn.Module) -> float:
    """The learning rate a search over ``generator`` takes when none is given."""
    return float(getattr(generator, "search_learning_rate", DEFAULT_LEARNING_RATE))
# The noise's, with optimize_noise: its sphere is smaller (radius sqrt(noise_size), 10 for the camera models here)
# and a step of 0.4 per coordinate overshoots it. Measured with a camera model that uses its noise (8 dev faces,
# 8 × 300): mean-of-8 LR PSNR 32.49 dB at 0.05, 32.42 at 0.15, 31.24 at 0.4 (benchmarks/README.md).
DEFAULT_NOISE_LEARNING_RATE = 0.05


# What a search may be asked for: more would only take minutes to refuse later (memory, time), and steps beyond
# MAX_LEARNING_RATE jump about the sphere of radius √512 ≈ 23 instead of descending.
MAX_CANDIDATES = 64
MAX_STEPS = 10_000
MAX_LEARNING_RATE = 100.0


@dataclass(frozen=True)
class SearchSettings:
    """What one latent search is asked to do, as every front end passes it on (the pipeline, whole photos, the
    evaluation, the app, the CLI). ``seed`` None: :meth:`checked` draws one, so that the result can be repeated.
    ``latent_space`` and ``latent_constraint``: where to search, and what keeps the codes there
    (:func:`make_latent_space`)."""

    num_candidates: int = 4
    num_steps: int = 300
    learning_rate: float | None = None  # None: the generator's own (search_learning_rate)
    seed: int | None = None
    optimize_noise: bool = False
    noise_learning_rate: float = DEFAULT_NOISE_LEARNING_RATE
    latent_space: Literal["z", "w", "w+"] = "z"
    latent_constraint: Literal["sphere", "free"] = "sphere"

    def checked(self) -> "SearchSettings":
        """These settings, checked (a ``TypeError`` or ``ValueError`` naming the field), with a seed drawn at
        random when there is none."""
        check_int("num_candidates", self.num_candidates, 1, MAX_CANDIDATES)
        check_int("num_steps", self.num_steps, 1, MAX_STEPS)
        if self.learning_rate is not None:
            check_rate("learning_rate", self.learning_rate, MAX_LEARNING_RATE)
        check_rate("noise_learning_rate", self.noise_learning_rate, MAX_LEARNING_RATE)
        if not isinstance(self.optimize_noise, bool):
            raise TypeError(f"optimize_noise must be True or False, got {self.optimize_noise!r}")
        if self.latent_space not in LATENT_SPACES:
            raise ValueError(f"latent_space must be one of {', '.join(LATENT_SPACES)}, got {self.latent_space!r}")
        if self.latent_constraint not in LATENT_CONSTRAINTS:
            raise ValueError(f"latent_constraint must be one of {', '.join(LATENT_CONSTRAINTS)}, "
                             f"got {self.latent_constraint!r}")
        seed = secrets.randbelow(2**31) if self.seed is None else self.seed
        check_int("seed", seed, 0, 2**63 - 1)
        return replace(self, seed=seed)

    def options(self) -> dict:
        """The keyword arguments of :func:`latent_search` these settings stand for (the seed becomes its
        ``generator_rng``)."""
        return {"num_candidates": self.num_candidates, "num_steps": self.num_steps,
                "learning_rate": self.learning_rate, "optimize_noise": self.optimize_noise,
                "noise_learning_rate": self.noise_learning_rate, "latent_space": self.latent_space,
                "latent_constraint": self.latent_constraint,
                "generator_rng": torch.Generator().manual_seed(self.seed)}


@dataclass
class SearchState:
    """What the callback sees after each step (tensors are detached; do not modify them)."""

    step: int  # 1-based
    num_steps: int
    l1: torch.Tensor  # [B, K] L1 of each candidate *before* this step's update
    hr: torch.Tensor  # [B, K, 3, 64, 64]
    lr: torch.Tensor  # [B, K, 3, 16, 16]


@dataclass
class SearchResult:
    latents: torch.Tensor  # [B, K, latent_size], the final z ([B, K, 512] for W, [B, K, L, 512] for W+)
    noise: torch.Tensor  # [B, K, noise_size], the fixed degradation noise of each candidate
    hr: torch.Tensor  # [B, K, 3, 64, 64] candidates G(z), in [-1, 1]
    lr: torch.Tensor  # [B, K, 3, 16, 16] their LR projections D(G(z), n)
    l1: torch.Tensor  # [B, K] final L1 between each projection and the target
    loss_history: torch.Tensor  # [num_steps, B, K] L1 at each step, before its update
    stopped_early: bool = False


class _ExactCudaMath:
    """On CUDA, for as long as a search runs: float32 convolutions and matmuls without TF32, and cuDNN's
    deterministic algorithms. Torch's defaults let cuDNN use TF32, which moved G(z) by 1.5e-3 and the
    gradient to z by 2% (float32 rounding: 2e-6 and 0.2%), and pick algorithms that sum in varying order,
    so that the same seed gave different candidates. Measured on an H200, the search was also faster
    without TF32 up to K = 64 (benchmarks/README.md). No effect on the CPU.

    The flags are process-wide, and several searches may run at once (the demo's threads): the first
    search to enter sets them, the last to leave restores what the caller had.
    """

    SETTINGS = {"allow_tf32": False, "deterministic": True}  # cudnn's flags; the matmul one follows allow_tf32
    _lock = threading.Lock()
    _active = 0
    _saved: tuple = ()

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    @staticmethod
    def _flags() -> tuple[bool, bool, bool]:
        cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
        return cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32

    @staticmethod
    def _set_flags(flags: tuple[bool, bool, bool]) -> None:
        cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
        cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32 = flags

    def __enter__(self):
        if self.cuda:
            with _ExactCudaMath._lock:
                if _ExactCudaMath._active == 0:
                    _ExactCudaMath._saved = self._flags()
                    tf32 = self.SETTINGS["allow_tf32"]
                    self._set_flags((tf32, self.SETTINGS["deterministic"], tf32))
                _ExactCudaMath._active += 1

    def __exit__(self, *exc):
        if self.cuda:
            with _ExactCudaMath._lock:
                _ExactCudaMath._active -= 1
                if _ExactCudaMath._active == 0:
                    self._set_flags(_ExactCudaMath._saved)


def project_to_sphere(x: torch.Tensor) -> torch.Tensor:
    """Each row of ``x`` [N, D] scaled onto the sphere of radius sqrt(D), where N(0, I) samples concentrate."""
    return x * (x.shape[1] ** 0.5 / x.norm(dim=1, keepdim=True))


@dataclass(frozen=True)
class LatentSpace:
    """Where the search moves: how a candidate's code starts from its z ~ N(0, I), what keeps it in place after
    each step (None: nothing), and how a code becomes a face [N, 3, 64, 64]."""

    name: str
    start: Callable[[torch.Tensor], torch.Tensor]
    project: Callable[[torch.Tensor], torch.Tensor] | None
    decode: Callable[[torch.Tensor], torch.Tensor]


LATENT_SPACES = ("z", "w", "w+")
LATENT_CONSTRAINTS = ("sphere", "free")
STYLE_STATISTICS_SAMPLES = 10_000  # mapped z for the styles' mean and covariance (a fixed seed)
_style_statistics: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


@torch.no_grad()
def style_statistics(generator: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mean [512] of a style-based generator's styles w = styles(z), z ~ N(0, I), and the matrices [512, 512]
    that whiten them and colour them back (from the covariance of a fixed sample; computed once per generator)."""
    if generator not in _style_statistics:
        device = next(generator.buffers()).device
        z = torch.randn(STYLE_STATISTICS_SAMPLES, generator.latent_size, generator=torch.Generator().manual_seed(0))
        w = torch.cat([generator.styles(chunk.to(device)) for chunk in z.split(1000)]).double()
        mean = w.mean(0)
        variances, axes = torch.linalg.eigh(torch.cov((w - mean).t()))
        scale = variances.clamp_min(variances.max() * 1e-6).sqrt()  # the mapping leaves a few directions unused
        whiten, colour = (axes / scale) @ axes.t(), (axes * scale) @ axes.t()
        _style_statistics[generator] = tuple(t.float() for t in (mean, whiten, colour))
    return _style_statistics[generator]


def project_styles_to_sphere(generator: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """PULSE's constraint in the style space: each w (of W [N, 512], or of every layer of W+ [N, L, 512]) whitened by
    the styles' own statistics, put on the sphere of radius sqrt(512) where N(0, I) samples lie, and coloured back.
    So a searched style keeps the spread of the styles that z gives, in every direction, while it moves."""
    mean, whiten, colour = style_statistics(generator)

    def project(w: torch.Tensor) -> torch.Tensor:
        flat = w.reshape(-1, w.shape[-1])
        return (mean + project_to_sphere((flat - mean) @ whiten) @ colour).reshape(w.shape)

    return project


def make_latent_space(generator: nn.Module, name: str = "z", latent_constraint: str = "sphere") -> LatentSpace:
    """``"z"``: the generator's input; any generator. A style-based generator (one with ``styles(z)`` and
    ``faces_from_styles(w)``: the style student, the teacher) also has ``"w"``, its mapping's output [N, 512], and
    ``"w+"``, one w per style layer [N, L, 512] (PULSE's space), both started from the mapped z.
    ``latent_constraint``: ``"sphere"`` keeps z on its sphere, and a w on the sphere of the whitened styles
    (:func:`project_styles_to_sphere`); ``"free"`` leaves the codes where Adam takes them."""
    if latent_constraint not in LATENT_CONSTRAINTS:
        raise ValueError(f"latent_constraint must be one of {', '.join(LATENT_CONSTRAINTS)}, got {latent_constraint!r}")
    sphere = latent_constraint == "sphere"
    if name == "z":
        keep = project_to_sphere if sphere else None
        return LatentSpace("z", keep or (lambda z: z), keep, generator)
    if name not in LATENT_SPACES:
        raise ValueError(f"latent_space must be one of {', '.join(LATENT_SPACES)}, got {name!r}")
    if not (hasattr(generator, "styles") and hasattr(generator, "faces_from_styles")):
        raise ValueError(f"latent_space {name!r} needs a style-based generator (the style student or the teacher), "
                         f"not a {type(generator).__name__}: search 'z'")
    keep = project_styles_to_sphere(generator) if sphere else None
    layers = 1 if name == "w" else generator.num_style_layers

    def start(z: torch.Tensor) -> torch.Tensor:
        w = generator.styles(z) if name == "w" else generator.styles(z)[:, None].repeat(1, layers, 1)
        return keep(w) if keep else w

    return LatentSpace(name, start, keep, generator.faces_from_styles)


def lr_fit_l1(lr: torch.Tensor, target: torch.Tensor, grey: torch.Tensor | None = None) -> torch.Tensor:
    """[N]: the L1 of each projection ``lr`` [N, 3, s, s] against its ``target`` (both in [-1, 1]), paper eq. 6;
    on luminance where the target is grey (``grey`` [N]: its :func:`~srnam.images.is_grey`, computed when None).
    A grey photo says nothing of its colours, and a prior that makes only colour faces (the style student) could
    not fit its three channels: the candidates keep the colours the generator finds plausible."""
    grey = is_grey(target, value_range=2.0) if grey is None else grey
    return (lr_fit_view(lr, grey) - lr_fit_view(target, grey)).abs().mean(dim=(1, 2, 3))


def _check_search(degradation: nn.Module, lr_target: torch.Tensor, num_candidates: int, num_steps: int,
                  noise_learning_rate: float) -> None:
    """What latent_search itself needs (SearchSettings.checked() checks the settings' ranges for the front ends)."""
    if num_candidates < 1 or num_steps < 1:
        raise ValueError(f"num_candidates and num_steps must be >= 1, got {num_candidates} and {num_steps}")
    if not noise_learning_rate > 0:
        raise ValueError(f"noise_learning_rate must be > 0, got {noise_learning_rate}")
    size = degradation.lr_size
    if lr_target.dim() != 4 or tuple(lr_target.shape[1:]) != (3, size, size):
        raise ValueError(f"lr_target must be [B, 3, {size}, {size}] (the degradation model's LR size), "
                         f"got {list(lr_target.shape)}")


@torch.inference_mode(False)  # callers may sit in no_grad/inference mode; the search needs gradients
@torch.enable_grad()
def latent_search(
    generator: nn.Module,
    degradation: nn.Module,
    lr_target: torch.Tensor,
    *,
    num_candidates: int = 4,
    num_steps: int = 300,
    learning_rate: float | None = None,
    generator_rng: torch.Generator | None = None,
    callback: Callable[[SearchState], bool | None] | None = None,
    latent_constraint: Literal["sphere", "free"] = "sphere",
    latent_space: Literal["z", "w", "w+"] = "z",
    optimize_noise: bool = False,
    noise_learning_rate: float = DEFAULT_NOISE_LEARNING_RATE,
) -> SearchResult:
    """Search ``num_candidates`` latents per LR image in ``lr_target`` [B, 3, s, s] (range [-1, 1], s the
    degradation model's ``lr_size``).

    ``generator_rng`` seeds the starting latents and the degradation noise (on the CPU, so results do
    not depend on the device). ``callback(state)`` runs after every step; returning True stops the
    search early (the result then holds the latents reached so far). ``optimize_noise``: search the
    degradation noise too (module docstring), at its own Adam learning rate ``noise_learning_rate``; the
    result's ``noise`` is then the final one. ``latent_space``: where to search (:func:`make_latent_space`); the
    result's ``latents`` are the codes of that space. ``learning_rate``: Adam's, for the latents; None: the
    generator's own (:func:`search_learning_rate`).
    """
    learning_rate = search_learning_rate(generator) if learning_rate is None else learning_rate
    _check_search(degradation, lr_target, num_candidates, num_steps, noise_learning_rate)
    device = lr_target.device
    b, k = lr_target.shape[0], num_candidates
    space = make_latent_space(generator, latent_space, latent_constraint)
    z = torch.randn(b * k, generator.latent_size, generator=generator_rng).to(device)
    noise = torch.randn(b * k, degradation.noise_size, generator=generator_rng).to(device)
    with torch.no_grad():
        z = space.start(z)  # the codes searched: z on its sphere, or the mapped w
    if optimize_noise:
        noise = project_to_sphere(noise)
    target = lr_target.repeat_interleave(k, dim=0)  # [B·K, 3, 16, 16], candidates of an image adjacent
    grey = is_grey(target, value_range=2.0)  # [B·K]: these are fit on luminance (lr_fit_l1)
    searched = [z.requires_grad_(True)] + ([noise.requires_grad_(True)] if optimize_noise else [])
    # the noise has its own sphere (radius sqrt(noise_size), not sqrt(latent_size)), hence its own step size
    groups = [{"params": [z]}] + ([{"params": [noise], "lr": noise_learning_rate}] if optimize_noise else [])
    optimizer = torch.optim.Adam(groups, lr=learning_rate)
    history, stopped_early = [], False
    # eval mode: batch norm on its running statistics. The models' parameters are not touched: gradients are taken
    # with respect to the latents only (torch.autograd.grad), so several searches can share the same models
    with eval_mode(generator, degradation), _ExactCudaMath(device):
        for step in range(1, num_steps + 1):
            hr = space.decode(z)
            lr = degradation(hr, noise)
            l1 = lr_fit_l1(lr, target, grey)  # [B·K]
            # Sum, not mean: each candidate's gradient is then independent of K. Gradients for the searched
            # tensors only (z, and the noise with optimize_noise), never the models' parameters.
            grads = torch.autograd.grad(l1.sum(), searched)
            for tensor, grad in zip(searched, grads):
                tensor.grad = grad
            optimizer.step()
            with torch.no_grad():
                if space.project is not None:
                    z.copy_(space.project(z))
                if optimize_noise:
                    noise.copy_(project_to_sphere(noise))
            history.append(l1.detach().reshape(b, k))
            if callback is not None and callback(SearchState(
                step, num_steps, history[-1], hr.detach().reshape(b, k, *hr.shape[1:]),
                lr.detach().reshape(b, k, *lr.shape[1:]),
            )):
                stopped_early = step < num_steps
                break
        with torch.no_grad():  # the candidates the final latents give
            hr = space.decode(z)
            lr = degradation(hr, noise)
            l1 = lr_fit_l1(lr, target, grey)
    return SearchResult(
        latents=z.detach().reshape(b, k, *z.shape[1:]),
        noise=noise.detach().reshape(b, k, -1),
        hr=hr.reshape(b, k, *hr.shape[1:]),
        lr=lr.reshape(b, k, *lr.shape[1:]),
        l1=l1.reshape(b, k),
        loss_history=torch.stack(history),
        stopped_early=stopped_early,
    )
