"""Losses shared by the trainers: WGAN-GP and the VGG-19 perceptual loss."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SRNAMError


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): mean of (‖∇ critic(x̂)‖ − 1)² on random interpolates x̂."""
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real.device)
    mixed = (real.detach() + eps * (fake.detach() - real.detach())).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


class VGGWeightsError(SRNAMError, OSError):
    """The VGG-19 weights that were asked for cannot be had (no such file, no network for a download)."""


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG_LAYERS = 18  # vgg19.features[:18] ends at relu3_4: fine detail without the 4×4 maps of deeper layers


class VGGPerceptualLoss(nn.Module):
    """L1 between VGG-19 relu3_4 features of two images in [-1, 1]. Frozen, ImageNet weights only."""

    def __init__(self, features: nn.Module):
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        def feats(img):
            return self.features(((img + 1) / 2 - self.mean) / self.std)

        return F.l1_loss(feats(x), feats(y))


IMAGENET = "imagenet"  # --vgg-weights imagenet: let torchvision download its weights (the only download)


def load_vgg_loss(weights_path: str | Path | None = None) -> VGGPerceptualLoss | None:
    """The perceptual loss with ImageNet VGG-19 weights from ``weights_path`` (.safetensors, or a
    torchvision .pth state dict, read with ``weights_only=True``), else from torchvision's cache.
    Returns None, with a warning, when neither exists: never random weights, and no download unless
    ``weights_path`` is ``"imagenet"``, which asks torchvision to fetch its weights (548 MB, once, into its
    cache) and says clearly when it cannot."""
    from torchvision.models import VGG19_Weights, vgg19

    if str(weights_path) == IMAGENET:
        try:
            state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
        except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError; a cut download a RuntimeError
            raise VGGWeightsError(
                f"cannot download the VGG-19 ImageNet weights from {VGG19_Weights.IMAGENET1K_V1.url} ({err}). "
                f"Offline, pass --vgg-weights FILE (torchvision's vgg19 .pth or a .safetensors copy), or train "
                f"without the perceptual term (--delta 0)") from err
        model = vgg19()
        model.load_state_dict(state)
        return VGGPerceptualLoss(model.features[:VGG_LAYERS])
    if weights_path is None:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG19_Weights.IMAGENET1K_V1.url).name
        weights_path = cached if cached.is_file() else None
    if weights_path is None:
        warnings.warn("VGG-19 ImageNet weights are not available (not in torchvision's cache, no --vgg-weights "
                      "given): training without the perceptual term (delta = 0).", stacklevel=2)
        return None
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise VGGWeightsError(f"--vgg-weights {weights_path}: no such file (or pass 'imagenet' to download them)")
    if weights_path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(weights_path)
    else:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model = vgg19()
    used = model.features[:VGG_LAYERS]
    if state and all(k.startswith("features.") for k in state):  # only the layers the loss uses (a 9 MB file)
        used.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})  # strict
    else:
        model.load_state_dict(state)  # strict: a wrong file fails here rather than training on garbage
    return VGGPerceptualLoss(used)
