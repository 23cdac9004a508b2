"""The style-based student: the teacher's mapping network as it is, and a narrow synthesis distilled from the teacher.

The project's second generator family, beside ProGAN (issue 28). It keeps the generator contract: ``G(z)`` with
z ~ N(0, I) [N, 512] gives faces [N, 3, 64, 64] in [-1, 1], so the search, the pipeline and the evaluation take
either family. Inside:

- :class:`StyleMapping`: MobileStyleGAN's mapping network (pixel norm, 8 × linear + leaky ReLU · √2), copied from
  the teacher's IR graph by :meth:`StyleMapping.from_teacher` and frozen, then the corpus's truncation toward the
  teacher's mean style (both saved with the weights). So the student's z means what the teacher's z means: a dev
  latent asks the student for its dev face, which is what distillation trains.
- :class:`StyleSynthesis`: a learned 4×4 constant, then at each resolution up to 64 two modulated layers of the
  teacher's block type (the style scales the input channels, a depthwise 3×3 and a pointwise 1×1 conv, weight
  demodulation, a learned per-pixel map and a bias, leaky ReLU) and a modulated 1×1 to RGB added to the upsampled
  RGB of the resolution below (StyleGAN2's skip generator). The output is the corpus's HR framing directly, not a
  portrait: no pixel is spent outside the face crop.

``synthesis`` takes one style per sample (W, [N, 512]) or one per layer (W+, [N, num_style_layers, 512]).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .hub import ConfigField, HubModel
from .layers import fast_layout

# Widths per resolution, 4×4 first. "cpu": about the compact ProGAN's search cost (benchmarks/search_throughput.py).
STYLE_CHANNELS = {
    "wide": (512, 512, 256, 128, 64),
    "cpu": (256, 256, 128, 64, 32),
    "tiny": (16, 16, 8, 8, 4),
}
STYLE_SIZE = 512
MAPPING_LAYERS = 8
LEAKY_SLOPE = 0.2


class StyleMapping(nn.Module):
    """z [N, latent_size] → truncated style w [N, style_size] (MobileStyleGAN's mapping, frozen)."""

    def __init__(self, latent_size: int = 512, style_size: int = STYLE_SIZE, layers: int = MAPPING_LAYERS):
        super().__init__()
        sizes = [latent_size] + [style_size] * layers
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.register_buffer("mean_style", torch.zeros(1, style_size))
        self.register_buffer("psi", torch.ones(()))  # truncation toward mean_style (the corpus used 0.8)
        self.requires_grad_(False)

    def forward(self, z: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for linear in self.linears:
            x = F.leaky_relu(linear(x), LEAKY_SLOPE) * math.sqrt(2)
        return self.mean_style + self.psi * (x - self.mean_style) if truncate else x

    @torch.no_grad()
    def copy_from_teacher(self, teacher) -> "StyleMapping":
        """Copy the teacher's mapping weights, mean style and ψ, and check the copy against the teacher's graph."""
        graph = teacher.mapping_graph
        matmuls = [n for n in graph.nodes if n.type == "MatMul"]
        biases = [graph.const(n.inputs[0][0]) for n in graph.nodes
                  if n.type == "Reshape" and graph.is_const(n.inputs[0][0])]
        if len(matmuls) != len(self.linears) or len(biases) != len(self.linears):
            raise ValueError(f"the teacher's mapping has {len(matmuls)} layers, this one {len(self.linears)}")
        for linear, matmul, bias in zip(self.linears, matmuls, biases):
            linear.weight.copy_(graph.const(matmul.inputs[1][0]))  # MatMul(x, W, transpose_b): x Wᵀ, as nn.Linear
            linear.bias.copy_(bias.reshape(-1))
        self.mean_style.copy_(teacher.mean_style)
        self.psi.fill_(teacher.psi)
        z = torch.randn(8, self.linears[0].in_features, generator=torch.Generator().manual_seed(0))
        error = (self(z, truncate=False) - teacher.mapping(z)).abs().max().item()
        if error > 1e-3:
            raise ValueError(f"the copied mapping differs from the teacher's by {error:.2e}: the graph's layout is "
                             f"not the one this copy expects")
        return self


def layer_styles(w: torch.Tensor, count: int) -> list[torch.Tensor]:
    """One style per layer: w [N, 512] (W) for every layer, or W+ [N, count, 512] unbound."""
    if w.dim() == 2:
        return [w] * count
    if w.dim() == 3 and w.shape[1] == count:
        return list(w.unbind(1))
    raise ValueError(f"styles must be [N, 512] (W) or [N, {count}, 512] (W+), got {list(w.shape)}")


class ModulatedLayer(nn.Module):
    """Style-modulated depthwise-separable conv: x·s → depthwise k×k → pointwise 1×1, demodulated; then a learned
    per-pixel map, a bias and leaky ReLU (``activate``). With ``demodulate=False`` and k = 1: a to-RGB layer."""

    def __init__(self, c_in: int, c_out: int, resolution: int, kernel: int = 3, demodulate: bool = True,
                 activate: bool = True, style_size: int = STYLE_SIZE):
        super().__init__()
        self.affine = nn.Linear(style_size, c_in)
        nn.init.normal_(self.affine.weight, std=1 / math.sqrt(style_size))
        nn.init.ones_(self.affine.bias)  # start as an unmodulated conv
        self.depthwise = nn.Parameter(torch.randn(c_in, 1, kernel, kernel)) if kernel > 1 else None
        self.pointwise = nn.Parameter(torch.randn(c_out, c_in))
        self.kernel, self.demodulate, self.activate = kernel, demodulate, activate
        self.dw_scale = 1 / kernel  # equalised learning rate: unit-variance parameters, He scale at run time
        self.pw_scale = 1 / math.sqrt(c_in)
        self.pixel_map = nn.Parameter(torch.zeros(1, 1, resolution, resolution)) if activate else None
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # Three passes over the feature map: the depthwise conv, one batched matmul and the activation. The style
        # commutes with the (per-channel) depthwise conv, so it scales the pointwise weights instead of the input,
        # and the demodulation, the bias, the per-pixel map and the gain √2 (leaky ReLU is positively homogeneous:
        # lrelu(a)·√2 = lrelu(√2·a)) all go into that matmul. 2.5× faster to train on a CPU than a pass per step.
        n, _, h, width = x.shape
        s = self.affine(w)  # [N, C_in]
        pointwise = self.pointwise * self.pw_scale  # [C_out, C_in]
        energy = s.square()  # the demodulation: 1/‖effective weight‖ per sample and output channel
        if self.depthwise is not None:
            depthwise = self.depthwise * self.dw_scale
            x = F.conv2d(x, depthwise, padding=self.kernel // 2, groups=x.shape[1])
            energy = energy * depthwise.square().sum(dim=(1, 2, 3))
        weight = pointwise[None] * s[:, None, :]  # [N, C_out, C_in]
        gain = math.sqrt(2) if self.activate else 1.0
        if self.demodulate:
            weight = weight * (gain * torch.rsqrt(energy @ pointwise.square().t() + 1e-8))[:, :, None]
        bias = self.bias * gain + (self.pixel_map * gain if self.activate else 0)  # [1, C_out, H or 1, W or 1]
        bias = bias.expand(1, -1, h, width)
        if x.is_contiguous():  # NCHW: [N, C_out, C_in] @ [N, C_in, HW]
            bias = bias.reshape(1, -1, h * width).expand(n, -1, -1)
            x = torch.baddbmm(bias, weight, x.reshape(n, x.shape[1], h * width)).reshape(n, -1, h, width)
        else:  # channels-last (NHWC, fast_layout): [N, HW, C_in] @ [N, C_in, C_out], and the result stays NHWC
            bias = bias.permute(0, 2, 3, 1).reshape(1, h * width, -1).expand(n, -1, -1)
            x = torch.baddbmm(bias, x.permute(0, 2, 3, 1).reshape(n, h * width, -1), weight.transpose(1, 2))
            x = x.reshape(n, h, width, -1).permute(0, 3, 1, 2)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activate else x


class StyleSynthesis(nn.Module):
    """w [N, 512] or W+ [N, num_style_layers, 512] → image [N, 3, R, R], R = 4·2^(len(channels)-1)."""

    def __init__(self, channels: tuple[int, ...], style_size: int = STYLE_SIZE):
        super().__init__()
        self.channels = tuple(channels)
        self.resolution = 4 * 2 ** (len(self.channels) - 1)
        self.const = nn.Parameter(torch.randn(1, self.channels[0], 4, 4))
        self.input_layer = ModulatedLayer(self.channels[0], self.channels[0], 4, style_size=style_size)
        self.blocks = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(self.channels[:-1], self.channels[1:])):
            r = 8 * 2 ** i
            self.blocks.append(nn.ModuleList([ModulatedLayer(c_in, c_out, r, style_size=style_size),
                                              ModulatedLayer(c_out, c_out, r, style_size=style_size)]))
        self.to_rgb = nn.ModuleList(ModulatedLayer(c, 3, 4 * 2 ** i, kernel=1, demodulate=False, activate=False,
                                                   style_size=style_size) for i, c in enumerate(self.channels))

    @property
    def num_style_layers(self) -> int:
        return 1 + 2 * len(self.blocks) + len(self.to_rgb)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(w)[0]

    def forward_with_features(self, w: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The image, and each resolution's last feature map {4: [N, C, 4, 4], 8: …} (what the distillation's
        teacher hints read)."""
        styles = iter(layer_styles(w, self.num_style_layers))
        # Channels-last on the CPU: oneDNN's depthwise conv is 2-8× faster in it than in NCHW, where it also
        # converts the 64×64 maps to and from its own layout at every call (benchmarks/README.md).
        x = fast_layout(self.const.expand(w.shape[0], -1, -1, -1))
        x = self.input_layer(x, next(styles))
        rgb = self.to_rgb[0](x, next(styles))
        features = {4: x}
        for block, to_rgb in zip(self.blocks, self.to_rgb[1:]):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = block[1](block[0](x, next(styles)), next(styles))
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(x, next(styles))
            features[x.shape[-1]] = x
        return rgb, features


class StyleGenerator:
    """What both students (this one and ``trunk_student``'s) are beside their synthesis: the teacher's frozen
    mapping ``self.mapping``, then ``self.synthesis`` (W or W+ → face), and the search's W and W+ spaces."""

    # The search's Adam learning rate when none is given (srnam.search.search_learning_rate): at the ProGAN's
    # 0.4 the style student fit the selection faces 1.5 dB worse, and three of four of the trunk student's
    # candidates broke into grid-textured faces (distill_trials.md, items 10 and 11).
    search_learning_rate = 0.1

    @property
    def num_style_layers(self) -> int:
        return self.synthesis.num_style_layers

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))

    def styles(self, z: torch.Tensor) -> torch.Tensor:
        return self.mapping(z)

    def faces_from_styles(self, w: torch.Tensor) -> torch.Tensor:
        """W [N, 512] or W+ [N, num_style_layers, 512] → faces (the search's W and W+ spaces)."""
        return self.synthesis(w)

    def train(self, mode: bool = True):
        super().train(mode)
        self.mapping.eval()  # frozen: the teacher's, whatever the trainer does
        return self


class StyleStudentGenerator(StyleGenerator, HubModel):
    """z [N, latent_size] ~ N(0, I) → face [N, 3, R, R] in [-1, 1] (not clamped): mapping, then synthesis."""

    config_fields = {"latent_size": ConfigField(int), "channels": ConfigField(tuple, length=(2, 9)),
                     "mapping_layers": ConfigField(int, high=16)}

    def __init__(self, latent_size: int = 512, channels: tuple[int, ...] = STYLE_CHANNELS["cpu"],
                 mapping_layers: int = MAPPING_LAYERS):
        super().__init__()
        self.latent_size = latent_size
        self.channels = tuple(channels)
        self.mapping = StyleMapping(latent_size, STYLE_SIZE, mapping_layers)
        self.synthesis = StyleSynthesis(self.channels)
        self.resolution = self.synthesis.resolution
