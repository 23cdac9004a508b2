"""ProGAN generator and critic after Karras et al., "Progressive Growing of GANs" (ICLR 2018).

Both networks hold every stage from 4×4 up to the final resolution. ``stage`` picks how many are
active (0 → 4×4, 1 → 8×8, ..., 4 → 64×64) and ``alpha`` fades the newest stage in: the output is
``lerp(previous stage upsampled, new stage, alpha)``. Trained models run at the last stage, alpha 1.

``channels`` lists the feature width of each resolution, 4×4 first. The paper's widths for 64×64
are (512, 512, 512, 512, 256); :data:`PROGAN_CHANNELS` has smaller presets for CPU.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .hub import ConfigField, HubModel
from .layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, UpsampleConv2d, fast_layout

PROGAN_CHANNELS = {
    "paper": (512, 512, 512, 512, 256),
    "small": (256, 256, 128, 64, 32),
    # The shipped checkpoints: half of 'small', so 8 candidates × 300 search steps take seconds on a CPU.
    "compact": (128, 128, 64, 32, 16),
    "tiny": (16, 16, 8, 8, 4),
}


def _lerp(old: torch.Tensor, new: torch.Tensor, alpha: float) -> torch.Tensor:
    return new if alpha >= 1.0 else old + (new - old) * alpha


class ProGANGenerator(HubModel):
    """Maps a latent ``z`` [N, latent_size] to an image [N, 3, R, R] in [-1, 1] (not clamped)."""

    config_fields = {"latent_size": ConfigField(int), "channels": ConfigField(tuple)}  # up to 9 stages: 1024×1024
    # Models saved before the leaky ReLUs and the upsampling were fused into their neighbours had a layer more in
    # each place (input_conv.2, blocks.N.1, blocks.N.4: the shipped checkpoint and old run folders).
    legacy_key_renames = ((r"^input_conv\.2\.", "input_conv.1."), (r"^blocks\.(\d+)\.1\.", r"blocks.\1.0."),
                          (r"^blocks\.(\d+)\.4\.", r"blocks.\1.2."))

    def __init__(self, latent_size: int = 512, channels: tuple[int, ...] = PROGAN_CHANNELS["paper"]):
        super().__init__()
        self.latent_size = latent_size
        self.channels = tuple(channels)
        self.num_stages = len(self.channels)
        self.resolution = 4 * 2 ** (self.num_stages - 1)
        c0 = self.channels[0]
        # Pixel norm on z: G depends only on the direction of z (see srnam.search).
        self.latent_norm = PixelNorm()
        # gain sqrt(2)/4: the 4×4 map is 16 outputs per channel (official implementation).
        self.input = EqualizedLinear(latent_size, c0 * 16, gain=math.sqrt(2) / 4)

        def act_norm():  # leaky ReLU (0.2) then pixel norm, as one layer (faster; see PixelNorm)
            return PixelNorm(leaky_relu_slope=0.2)

        self.input_conv = nn.Sequential(act_norm(), EqualizedConv2d(c0, c0, 3), act_norm())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                UpsampleConv2d(c_in, c_out), act_norm(),  # upsample ×2 and conv, fused
                EqualizedConv2d(c_out, c_out, 3), act_norm(),
            )
            for c_in, c_out in zip(self.channels[:-1], self.channels[1:])
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, 3, 1, gain=1.0) for c in self.channels)

    def forward(self, z: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self.num_stages - 1 if stage is None else stage
        if not 0 <= stage < self.num_stages:
            raise ValueError(f"stage must be in [0, {self.num_stages - 1}], got {stage}")
        x = fast_layout(self.input(self.latent_norm(z)).reshape(-1, self.channels[0], 4, 4))  # [N, C0, 4, 4]
        x = self.input_conv(x)
        if stage == 0:
            return self.to_rgb[0](x)
        for block in self.blocks[: stage - 1]:
            x = block(x)
        previous = F.interpolate(self.to_rgb[stage - 1](x), scale_factor=2, mode="nearest")
        x = self.blocks[stage - 1](x)  # [N, C_stage, R, R]
        return _lerp(previous, self.to_rgb[stage](x), alpha)


class ProGANDiscriminator(HubModel):
    """The WGAN critic: an image [N, 3, R, R] at ``stage`` → a score [N, 1]."""

    config_fields = {"channels": ConfigField(tuple), "mbstd_group_size": ConfigField(int, high=256)}

    def __init__(self, channels: tuple[int, ...] = PROGAN_CHANNELS["paper"], mbstd_group_size: int = 4):
        super().__init__()
        self.channels = tuple(channels)
        self.num_stages = len(self.channels)
        self.resolution = 4 * 2 ** (self.num_stages - 1)
        act = nn.LeakyReLU(0.2)
        self.from_rgb = nn.ModuleList(nn.Sequential(EqualizedConv2d(3, c, 1), act) for c in self.channels)
        # blocks[s - 1] takes stage s (resolution 4·2^s) down to stage s - 1; the 4×4 head is separate.
        self.blocks = nn.ModuleList(
            nn.Sequential(
                EqualizedConv2d(c_hi, c_hi, 3), act,
                EqualizedConv2d(c_hi, c_lo, 3), act,
                nn.AvgPool2d(2),
            )
            for c_lo, c_hi in zip(self.channels[:-1], self.channels[1:])
        )
        c0 = self.channels[0]
        self.head = nn.Sequential(
            MinibatchStdDev(mbstd_group_size),
            EqualizedConv2d(c0 + 1, c0, 3), act,
            nn.Flatten(),
            EqualizedLinear(c0 * 16, c0), act,
            EqualizedLinear(c0, 1, gain=1.0),
        )

    def forward(self, image: torch.Tensor, stage: int | None = None, alpha: float = 1.0,
                features: list | None = None) -> torch.Tensor:
        """The score [N, 1]; with a list as ``features``, the activation after each block (fine to coarse) and
        before the head are appended to it (feature matching, as in pix2pixHD)."""
        stage = self.num_stages - 1 if stage is None else stage
        if not 0 <= stage < self.num_stages:
            raise ValueError(f"stage must be in [0, {self.num_stages - 1}], got {stage}")
        expected = 4 * 2 ** stage
        if image.shape[-2:] != (expected, expected):
            raise ValueError(f"stage {stage} expects {expected}×{expected} images, got {tuple(image.shape[-2:])}")
        keep = features.append if features is not None else (lambda _: None)
        x = self.from_rgb[stage](image)  # [N, C_stage, R, R]
        keep(x)
        if stage > 0:
            x = self.blocks[stage - 1](x)  # [N, C_{stage-1}, R/2, R/2]
            x = _lerp(self.from_rgb[stage - 1](F.avg_pool2d(image, 2)), x, alpha)
            keep(x)
            for block in reversed(self.blocks[: stage - 1]):
                x = block(x)
                keep(x)
        return self.head(x)  # [N, 1]
