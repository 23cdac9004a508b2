"""Building blocks shared by the ProGAN generator and critic (Karras et al., 2018).

Equalised learning rate: weights are stored as N(0, 1) and multiplied by the He constant
sqrt(gain / fan_in) at *run time*, not at initialisation. Adam normalises updates per parameter,
so storing unit-variance weights makes every layer learn at the same speed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)  # He constant, applied in forward()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """Normalises each pixel's feature vector to unit average square (ProGAN section 4.2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the average standard deviation over groups of samples.

    It lets the critic see the variety of a batch, which discourages mode collapse.
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        while n % group:  # largest group size that divides the batch
            group -= 1
        y = x.reshape(group, -1, c, h, w)  # [G, N/G, C, H, W]
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [N/G, C, H, W]
        y = y.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1)  # [N/G, 1, 1, 1]
        y = y.repeat(group, 1, h, w)  # [N, 1, H, W]
        return torch.cat([x, y], dim=1)
