"""The learned degradation model: a high-to-low generator and its critic.

The architecture follows Bulat et al., "To learn image super-resolution, use a GAN to learn how to do
image degradation first" (ECCV 2018), which SR-NAM uses as ``D(hr, noise)``: a 64×64 face plus a noise
vector in, a realistic 16×16 photo out. Different noise gives a different plausible camera.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .camera_head import CameraHead
from .eval_mode import eval_mode
from .hub import ConfigField, HubModel
from .layers import fast_layout

DEGRADATION_CHANNELS = {
    "default": (64, 64, 96, 128, 128, 64),
    # The shipped checkpoints: the 64×64 group dominates the cost of a search step, so it is the narrowest.
    "compact": (8, 16, 32, 32, 32, 16),
    "tiny": (8, 8, 8, 8, 8, 8),
}


class BatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose eval mode on the CPU is written as the affine map it is: x · a + b, with
    a = γ / sqrt(σ² + ε) and b = β − μ · a per channel. Same parameters and values (up to float32 rounding)
    as torch's layer, but the latent search also runs the backward pass through D at every step, and torch's
    eval-mode backward took 1.9× as long as the affine map's on channels-last 64×64 maps on the CPU. (On a
    GPU torch's layer is one kernel each way, where the affine map takes five: it stays.)"""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.running_var is None or x.device.type != "cpu":
            return super().forward(x)
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)  # [C]
        shift = self.bias - self.running_mean * scale
        return torch.addcmul(shift[:, None, None], x, scale[:, None, None])


class ResidualBlock(nn.Module):
    """Pre-activation residual block: [BN] → ReLU → conv3×3 → [BN] → ReLU → conv3×3, plus a skip."""

    def __init__(self, c_in: int, c_out: int, batch_norm: bool):
        super().__init__()
        norm = BatchNorm2d if batch_norm else nn.Identity
        self.body = nn.Sequential(
            norm(c_in), nn.ReLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
            norm(c_out), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class DegradationGenerator(HubModel):
    """``D(hr, noise)``: HR [N, 3, 64, 64] and noise [N, noise_size] → LR [N, 3, 16, 16], both in [-1, 1].

    Six groups of two residual blocks (12 in all). After each of the first four groups an average
    pool halves the resolution (64 → 4); after the last two a pixel shuffle doubles it (4 → 16).
    The noise is projected by a fully connected layer to one extra 64×64 input channel.

    With ``residual=True`` the network predicts a correction to the 4× area-downsampled input rather
    than the whole LR image: colours stay anchored to the HR face and training starts from plain
    downsampling instead of from noise.

    With ``camera_head=True`` (needs ``residual``) the noise also sets a lens blur of that downsampled face
    and a sensor noise added to it (:mod:`srnam.models.camera_head`): the blur and the
    per-pixel noise of real photos, which the correction, made at 4×4, cannot give.
    """

    config_fields = {"noise_size": ConfigField(int), "channels": ConfigField(tuple, length=(6, 6)),
                     "hr_size": ConfigField(int, low=16, high=1024, multiple_of=16), "residual": ConfigField(bool),
                     "camera_head": ConfigField(bool)}

    def __init__(self, noise_size: int = 100, channels: tuple[int, ...] = DEGRADATION_CHANNELS["default"],
                 hr_size: int = 64, residual: bool = True, camera_head: bool = False):
        super().__init__()
        if len(channels) != 6:
            raise ValueError(f"channels needs one width per group (6), got {len(channels)}")
        if hr_size % 16:
            raise ValueError(f"hr_size must be a multiple of 16, got {hr_size}")
        if camera_head and not residual:
            raise ValueError("camera_head=True blurs the downsampled input that residual=True adds: it needs residual")
        self.noise_size, self.hr_size, self.residual = noise_size, hr_size, residual
        self.camera = CameraHead(noise_size, hr_size // 4) if camera_head else None
        self.channels = tuple(channels)
        self.noise_fc = nn.Linear(noise_size, hr_size * hr_size)
        self.stem = nn.Conv2d(3 + 1, self.channels[0], 3, padding=1)
        widths = (self.channels[0],) + self.channels
        self.groups = nn.ModuleList(
            nn.Sequential(ResidualBlock(c_in, c_out, batch_norm=True), ResidualBlock(c_out, c_out, batch_norm=True))
            for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.resample = nn.ModuleList(
            [nn.AvgPool2d(2) for _ in range(4)]
            + [nn.Sequential(nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2)) for c in self.channels[4:]]
        )
        self.to_rgb = nn.Sequential(BatchNorm2d(self.channels[-1]), nn.ReLU(),
                                    nn.Conv2d(self.channels[-1], 3, 3, padding=1))

    @property
    def lr_size(self) -> int:
        return self.hr_size // 4

    def forward(self, hr: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        n = hr.shape[0]
        noise_map = self.noise_fc(noise).reshape(n, 1, self.hr_size, self.hr_size)  # [N, 1, 64, 64]
        x = self.stem(fast_layout(torch.cat([hr, noise_map], dim=1)))  # [N, C, 64, 64]
        for group, resample in zip(self.groups, self.resample):
            x = resample(group(x))  # 64 → 32 → 16 → 8 → 4 → 8 → 16
        out = self.to_rgb(x)  # [N, 3, 16, 16]
        if self.residual:
            base = F.avg_pool2d(hr, 4)
            if self.camera is not None:  # the head needs residual: it acts on the downsampled face
                base = self.camera.lens(base, noise) + self.camera.sensor(noise)
            out = out + base
        return out

    def photograph(self, hr: torch.Tensor, noise_seeds: list[int]) -> torch.Tensor:
        """The LR photos this camera model takes of the HR faces ``hr`` [N, 3, 64, 64], one seeded noise vector
        per face: [N, 3, 16, 16] on the CPU, both in [-1, 1], in eval mode whatever the model's own mode. A face
        gets the same photo for the same seed whatever else is in the batch (the app's "degrade" mode, srnam
        evaluate's LR inputs, the model card's figures)."""
        device = next(self.parameters()).device
        noise = torch.stack([torch.randn(self.noise_size, generator=torch.Generator().manual_seed(seed))
                             for seed in noise_seeds])  # [N, noise_size]
        with torch.inference_mode(), eval_mode(self):
            return self(hr.to(device), noise.to(device)).cpu()


class DegradationDiscriminator(HubModel):
    """Critic of 16×16 LR faces: six residual blocks without batch norm, max pooling after the last
    two (16 → 4), then a fully connected layer to one score [N, 1]."""

    config_fields = {"channels": ConfigField(tuple, length=(6, 6)),
                     "lr_size": ConfigField(int, low=4, high=256, multiple_of=4)}

    def __init__(self, channels: tuple[int, ...] = DEGRADATION_CHANNELS["default"], lr_size: int = 16):
        super().__init__()
        if len(channels) != 6:
            raise ValueError(f"channels needs one width per block (6), got {len(channels)}")
        self.channels = tuple(channels)
        self.stem = nn.Conv2d(3, self.channels[0], 3, padding=1)
        widths = (self.channels[0],) + self.channels
        self.blocks = nn.Sequential(*(
            nn.Sequential(ResidualBlock(c_in, c_out, batch_norm=False), nn.MaxPool2d(2) if i >= 4 else nn.Identity())
            for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:]))
        ))
        side = lr_size // 4
        self.head = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(self.channels[-1] * side * side, 1))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(lr)))  # [N, 1]
