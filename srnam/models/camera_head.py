"""The camera head of the degradation model: a lens blur and sensor noise, both set by the noise vector.

Why it exists. The residual degradation network adds a correction to the 4× area-downsampled face, and its
correction passes through a 4×4 bottleneck. So it can shift colours, but it cannot blur the face's own 16×16
detail or add per-pixel noise, and a real LR photo has both: measured on the LR domain, the trained models had
far too much high-frequency power (benchmarks/README.md, "The camera model"). The head gives the noise vector
two direct, physical knobs:

* **lens blur**: a Gaussian whose sigma the noise sets, one per photo. It is applied to the area-downsampled
  face, at the LR size, with sigma in LR pixels: a Gaussian blur and the 4×4 box commute up to the sampling,
  and at 16×16 the blur costs a sixteenth of what it would at 64×64 (the search runs it at every step);
* **sensor noise** after it: a fixed random pattern of the noise vector (one gray and one colour part, so that
  the search, which may optimise the noise, can also steer the pattern), scaled by amplitudes the noise sets.

At initialisation the blur is 0.3 LR pixels and the amplitudes are near zero, so a model with the
head starts as the model without it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# LR pixels. The LR domain's optical blur reaches 0.7 (srnam.training.data.RealisticDegradation), on top of the
# blur of its downsampling kernels; below MIN_SIGMA the kernel is a delta to float precision.
MAX_SIGMA = 1.0
MIN_SIGMA = 0.05
TAPS = 2 * math.ceil(3 * MAX_SIGMA) + 1  # the kernel covers ±3 sigma at the largest sigma
# The head's layers learn this many times faster than the rest (as StyleGAN's mapping network's lr_mul): their
# parameters are stored divided by it and multiplied back at run time, and Adam's step is about the learning
# rate per stored parameter. At the degradation trainer's 1e-4 a plain bias would need 10,000 steps to move the
# blur from its start to the middle of its range; with it, about 100.
LR_MULTIPLIER = 100.0


class FastLinear(nn.Linear):
    """A linear layer whose weights and bias are used ×LR_MULTIPLIER (so that Adam moves it that much faster)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * LR_MULTIPLIER, self.bias * LR_MULTIPLIER)


class CameraHead(nn.Module):
    def __init__(self, noise_size: int, lr_size: int):
        super().__init__()
        self.lr_size = lr_size
        self.blur = FastLinear(noise_size, 1)  # → sigma in LR pixels (squashed into [MIN_SIGMA, MAX_SIGMA])
        self.amplitude = FastLinear(noise_size, 2)  # → gray and colour noise amplitudes (softplus), [-1, 1] units
        # Start: sigma 0.3 LR pixels (a near-delta whose gradient is still alive; at 0.05 it underflows to 0)
        # and amplitudes of 0.0025 (a third of an 8-bit level).
        for layer, start in ((self.blur, -1.0), (self.amplitude, -6.0)):
            nn.init.zeros_(layer.weight)  # Adam moves them at its own pace whatever the gradient's scale
            nn.init.constant_(layer.bias, start / LR_MULTIPLIER)
        # Fixed (saved, not trained): the noise vector → one gray and three colour unit-variance patterns.
        basis = torch.randn(noise_size, 4 * lr_size * lr_size, generator=torch.Generator().manual_seed(0))
        self.register_buffer("pattern_basis", basis / math.sqrt(noise_size))

    def sigma(self, noise: torch.Tensor) -> torch.Tensor:
        """The blur of each photo [N] in LR pixels."""
        return MIN_SIGMA + (MAX_SIGMA - MIN_SIGMA) * torch.sigmoid(self.blur(noise)[:, 0])

    def lens(self, lr: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``lr`` [N, 3, s, s] blurred by each photo's own Gaussian (separable, reflect padding)."""
        n, c, h, w = lr.shape
        offsets = torch.arange(TAPS, device=lr.device, dtype=lr.dtype) - TAPS // 2
        kernel = torch.exp(-0.5 * (offsets / self.sigma(noise).to(lr.dtype)[:, None]) ** 2)  # [N, TAPS]
        kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # [N·3, TAPS]
        x = F.pad(lr.reshape(1, n * c, h, w), (TAPS // 2,) * 4, mode="reflect")
        x = F.conv2d(x, kernel[:, None, None, :], groups=n * c)  # rows
        x = F.conv2d(x, kernel[:, None, :, None], groups=n * c)  # columns
        return x.reshape(n, c, h, w)

    def sensor(self, noise: torch.Tensor) -> torch.Tensor:
        """Each photo's sensor noise [N, 3, s, s], to add to the LR photo."""
        n, s = noise.shape[0], self.lr_size
        patterns = (noise @ self.pattern_basis.to(noise.dtype)).reshape(n, 4, s, s)
        gray, colour = F.softplus(self.amplitude(noise)).unbind(dim=1)  # [N] each
        return gray[:, None, None, None] * patterns[:, :1] + colour[:, None, None, None] * patterns[:, 1:]
