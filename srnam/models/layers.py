"""Building blocks shared by the ProGAN generator and critic (Karras et al., 2018).

Equalised learning rate: weights are stored as N(0, 1) and multiplied by the He constant
sqrt(gain / fan_in) at *run time*, not at initialisation. Adam normalises updates per parameter,
so storing unit-variance weights makes every layer learn at the same speed.
"""
from __future__ import annotations

import itertools
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
        # (x·c)Wᵀ = x(c·W)ᵀ: scaling the input costs N × in multiplies per call, the weight out × in
        # (1M for G's input layer, at every step of a search of a few candidates)
        return F.linear(x * self.scale, self.weight, self.bias)


class EqualizedConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class UpsampleConv2d(EqualizedConv2d):
    """Nearest-neighbour 2× upsampling followed by a 3×3 equalised conv, computed as one transposed conv.

    Both are the same linear map: after nearest upsampling, a 3×3 window covers only 2×2 distinct input
    pixels, so each output pixel is a 2×2 conv of the input, with one of four summed kernels depending on
    its position. A stride-2 transposed conv with the 4×4 kernel that holds all four does exactly that
    (the official ProGAN code's ``fused_scale``), with 16 instead of 36 multiply-adds per input pixel and
    channel pair. The parameters are those of ``EqualizedConv2d(in, out, 3)``; results differ by float
    rounding only. The search runs faster with it from a few candidates on (benchmarks/README.md).
    """

    def __init__(self, in_channels: int, out_channels: int, gain: float = math.sqrt(2)):
        super().__init__(in_channels, out_channels, 3, gain)
        # taps[k, l, m, n] = 1 where tap (k, l) of the 3×3 kernel adds into tap (m, n) of the 4×4 one, which
        # is flipped: conv_transpose2d, the adjoint of a conv, applies its kernel rotated by 180°. Not saved.
        taps = torch.zeros(3, 3, 4, 4)
        for m, n in itertools.product(range(4), repeat=2):
            for k, l in itertools.product((m - 1, m), (n - 1, n)):
                if 0 <= k < 3 and 0 <= l < 3:
                    taps[k, l, 3 - m, 3 - n] = 1.0
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One einsum builds the scaled 4×4 kernel in conv_transpose2d's [in, out, 4, 4] order: 7× cheaper than
        # padding and adding shifted copies, which cost more than the conv itself for one candidate.
        weight = torch.einsum("oikl,klmn->iomn", self.weight, self.taps * self.scale)
        return F.conv_transpose2d(x, weight, self.bias, stride=2, padding=1)


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """On the CPU, the channels-last (NHWC) memory layout, in which oneDNN's convolutions and the layers
    between them run about 9% faster here (benchmarks/README.md); later layers keep the layout. The values
    are unchanged. On other devices ``x`` as it is (not measured)."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


class PixelNorm(nn.Module):
    """Normalises each pixel's feature vector to unit average square (ProGAN section 4.2); with
    ``leaky_relu_slope``, a leaky ReLU first, fused into the same step.

    The latent search runs forward *and* backward through these at every step, and at 64×64 they cost
    more than the convolutions between them. Written out, autograd keeps ``x``, the activation, its
    square and the norm, and its backward pass makes six full-size temporaries. :class:`_PixelNormFunction`
    keeps the output and the norm only, and its backward takes three passes: 2.8× faster on a
    [8, 16, 64, 64] map here. The values are the same up to float32 rounding.
    """

    def __init__(self, leaky_relu_slope: float | None = None):
        super().__init__()
        self.leaky_relu_slope = leaky_relu_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _PixelNormFunction.apply(x, self.leaky_relu_slope)


class _PixelNormFunction(torch.autograd.Function):
    """y = a · r with a = leaky_relu(x) (or x) and r = 1 / sqrt(mean over channels of a² + 1e-8)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float | None) -> torch.Tensor:
        a = x if slope is None else F.leaky_relu(x, slope)
        # mean of a² over the channels from the norm: one pass, no [N, C, H, W] temporary for a²
        r = torch.linalg.vector_norm(a, dim=1, keepdim=True).square_().div_(a.shape[1]).add_(1e-8).rsqrt_()
        y = a * r
        ctx.save_for_backward(y, r)
        ctx.slope = slope
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, r = ctx.saved_tensors
        # d(a·r)/da applied to grad: r · (grad − y · mean over channels of grad·y)
        grad_a = torch.addcmul(grad, y, (grad * y).mean(dim=1, keepdim=True), value=-1).mul_(r)
        if ctx.slope is None:
            return grad_a, None
        # the leaky ReLU's backward, read off y: it has the sign of a (r > 0)
        return torch.ops.aten.leaky_relu_backward(grad_a, y, ctx.slope, True), None


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
