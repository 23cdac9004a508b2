"""Augmentation for GAN training on a few thousand faces.

- :func:`xflip` mirrors real faces at random (ProGAN's dataset mirroring): the generator learns a
  left-right symmetric distribution, and the critic sees twice the distinct images.
- :func:`diff_augment` (Zhao et al. 2020, "Differentiable Augmentation") transforms *every* image the
  critic sees, real and fake alike, with differentiable operations. The critic then cannot memorise the
  training set, and since the same transforms apply to the fakes, the generator is not taught to produce
  them (it is taught the un-augmented distribution). Policies: ``color`` (brightness, saturation,
  contrast) and ``translation`` (shift by up to 1/8 of the side, zero padding).

Every random draw takes a ``torch.Generator``, so a resumed run repeats them exactly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

DIFF_AUGMENT_POLICIES = ("color", "translation")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` → ("color", "translation"); "" → (). Unknown names are a ValueError."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in DIFF_AUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}: choose from {', '.join(DIFF_AUGMENT_POLICIES)}")
    return names


def xflip(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Each image [N, C, H, W] mirrored left-right with probability ½."""
    flip = (torch.rand(images.shape[0], generator=rng) < 0.5).to(images.device)
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def diff_augment(images: torch.Tensor, policy: tuple[str, ...], rng: torch.Generator) -> torch.Tensor:
    """The DiffAugment transforms of ``policy`` applied to images in [-1, 1] ([N, 3, H, W]), differentiably."""
    n = images.shape[0]

    def uniform(*shape):
        return torch.rand(*shape, generator=rng).to(images.device, images.dtype)

    x = images
    if "color" in policy:
        x = x + (uniform(n, 1, 1, 1) - 0.5)  # brightness ±0.25 of the [0, 1] range = ±0.5 here
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (uniform(n, 1, 1, 1) * 2) + mean  # saturation ×[0, 2]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * (uniform(n, 1, 1, 1) + 0.5) + mean  # contrast ×[0.5, 1.5]
    if "translation" in policy:
        side = x.shape[-1]
        shift = max(1, side // 8)
        offsets = torch.randint(-shift, shift + 1, (2, n), generator=rng)
        padded = F.pad(x, (shift, shift, shift, shift))
        # Gather each image's window: a shift by (dy, dx) reads the padded image from (shift − dy, shift − dx).
        rows = (torch.arange(side).view(1, side) + shift - offsets[0].view(n, 1)).to(images.device)
        cols = (torch.arange(side).view(1, side) + shift - offsets[1].view(n, 1)).to(images.device)
        batch = torch.arange(n, device=images.device).view(n, 1, 1)
        x = padded.permute(0, 2, 3, 1)[batch, rows.view(n, side, 1), cols.view(n, 1, side)].permute(0, 3, 1, 2)
    return x
