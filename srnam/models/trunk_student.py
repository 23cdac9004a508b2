"""The trunk student: the teacher's own synthesis up to 16 px, copied as it is, and a learned head to the face.

The third generator family (issue 28's "the teacher's own blocks, plus a trained head"). The style student
(``style_student``) learns every resolution from the teacher's faces and stays blurred: its coarse layers never
learn where the teacher puts an eye to the pixel. This one does not learn them at all: its trunk *is* the teacher's
synthesis network up to the 16-px block (MobileStyleGAN: a 4×4 constant, a modulated 3×3 conv, then per doubling a
modulated Haar inverse wavelet transform and two modulated depthwise-separable convs, all 512 channels wide), its
weights copied from the teacher's IR graph by :meth:`TeacherTrunk.copy_from_teacher`. Only the head is trained: from
the trunk's 16-px features around the corpus's face box, two modulated layers per doubling to 64 px, then a
modulated 1×1 conv to four sub-pixels per colour (a pixel shuffle to 128 px, as the teacher's own image heads emit
wavelet bands at twice their resolution). That 128-px portrait's ``CORPUS_BOX`` is resized to 64×64 exactly as
the teacher's faces are (``teacher.corpus_crop``): the head computes only the region around the face.

On the same fresh pairs, at equal steps from scratch, the head reaches in 200 steps what the style student reached
in 2,400 (``train/default_checkpoint/distill_trials.md``, item 10).

It keeps the generator contract (``G(z)``, z ~ N(0, I) [N, 512] → [N, 3, 64, 64] in [-1, 1]) and the style
student's attributes (``mapping``, ``synthesis``, ``styles``, ``faces_from_styles``, ``num_style_layers``), so the
search's Z, W and W+ spaces, the pipeline and the distillation trainer take it as they are.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ModelLoadError
from .hub import CONFIG_NAME, ConfigField, HubModel, read_json_object
from .style_student import (LEAKY_SLOPE, MAPPING_LAYERS, STYLE_SIZE, ModulatedLayer, StyleGenerator, StyleMapping,
                            layer_styles)

TEACHER_WIDTH = 512  # MobileStyleGAN's channels up to its 64-px block
PORTRAIT = 128  # the head's output grid: the teacher's portrait frame at 128 px, where CORPUS_BOX is given
CORPUS_BOX = (20, 32, 108, 120)  # == teacher.CORPUS_BOX (not imported: that module needs no teacher files either)
HEAD_CHANNELS = {"cpu": (128, 64), "tiny": (8, 8)}  # per doubling of the head: 32 px, then 64 px


class TeacherLayer(nn.Module):
    """One of the teacher's styled convs as its IR graph computes it: the input scaled by the style's affine map
    (its 1/√fan-in scale folded in), a conv (a full 3×3, or a depthwise 3×3 and a pointwise 1×1) whose weights hold
    the teacher's fixed demodulation, a fixed noise map, a bias, leaky ReLU 0.2."""

    def __init__(self, c_in: int, c_out: int, resolution: int, depthwise: bool):
        super().__init__()
        self.affine = nn.Linear(STYLE_SIZE, c_in)
        if depthwise:
            self.depthwise = nn.Parameter(torch.zeros(c_in, 1, 3, 3))
            self.weight = nn.Parameter(torch.zeros(c_out, c_in, 1, 1))
        else:
            self.depthwise = None
            self.weight = nn.Parameter(torch.zeros(c_out, c_in, 3, 3))
        self.noise = nn.Parameter(torch.zeros(1, 1, resolution, resolution))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = x * self.affine(w)[:, :, None, None]
        if self.depthwise is not None:
            x = F.conv2d(x, self.depthwise, padding=1, groups=x.shape[1])
        x = F.conv2d(x, self.weight, padding=self.weight.shape[-1] // 2)
        return F.leaky_relu(x + self.noise + self.bias, LEAKY_SLOPE)


class TeacherInput(TeacherLayer):
    """The teacher's first layer: its 4×4 constant, scaled by the style, through a full 3×3 conv. The conv is
    linear in the style, so it is one matmul with the conv's response to each constant channel, computed once per
    weight version: 4.2 M multiply-adds per face instead of 38 M (a quarter of the trunk's)."""

    def __init__(self):
        super().__init__(TEACHER_WIDTH, TEACHER_WIDTH, 4, depthwise=False)
        self.const = nn.Parameter(torch.zeros(1, TEACHER_WIDTH, 4, 4))
        self._responses: tuple[tuple, torch.Tensor] | None = None

    def responses(self) -> torch.Tensor:
        """[C_in, C_out·16]: the conv of each constant channel alone (cached while the weights are unchanged)."""
        key = (self.weight._version, self.const._version, self.weight.device, self.weight.dtype)
        if self._responses is None or self._responses[0] != key or torch.is_grad_enabled() and (
                self.weight.requires_grad or self.const.requires_grad):
            c_out, c_in = self.weight.shape[:2]
            columns = F.unfold(self.const, 3, padding=1).reshape(c_in, 9, 16)  # [C_in, 3·3, 4·4]
            responses = torch.einsum("oik,ikp->iop", self.weight.reshape(c_out, c_in, 9), columns)
            self._responses = (key, responses.reshape(c_in, c_out * 16))
        return self._responses[1]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = (self.affine(w) @ self.responses()).reshape(w.shape[0], -1, 4, 4)
        return F.leaky_relu(x + self.noise + self.bias, LEAKY_SLOPE)


def haar_upsample(x: torch.Tensor) -> torch.Tensor:
    """[N, 4C, H, W] → [N, C, 2H, 2W]: the inverse Haar wavelet transform, the teacher's upsampling. The first C
    channels are the low band; then three high bands per channel, interleaved (channel c's at C + 3c + 0, 1, 2)."""
    n, c4, h, w = x.shape
    c = c4 // 4
    low, high = x[:, :c], x[:, c:].reshape(n, c, 3, h, w)
    b0, b1, b2 = high.unbind(2)  # vertical, horizontal and diagonal detail, in the graph's order
    # output pixel (2i + a, 2j + b) = ½ (low + s_a b0 + s_b b1 + s_a s_b b2), s_0 = +1, s_1 = -1
    subpixels = [low + b0 + b1 + b2, low + b0 - b1 - b2, low - b0 + b1 - b2, low - b0 - b1 + b2]
    return F.pixel_shuffle(torch.stack(subpixels, 2).reshape(n, 4 * c, h, w), 2) * 0.5


class TeacherBlock(nn.Module):
    """A doubling of the teacher's synthesis: modulated Haar upsampling (512 → 128 channels), then two layers."""

    def __init__(self, resolution: int):
        super().__init__()
        self.up_affine = nn.Linear(STYLE_SIZE, TEACHER_WIDTH)
        self.conv1 = TeacherLayer(TEACHER_WIDTH // 4, TEACHER_WIDTH, resolution, depthwise=True)
        self.conv2 = TeacherLayer(TEACHER_WIDTH, TEACHER_WIDTH, resolution, depthwise=True)

    def forward(self, x: torch.Tensor, styles) -> torch.Tensor:
        x = haar_upsample(x * self.up_affine(next(styles))[:, :, None, None])
        return self.conv2(self.conv1(x, next(styles)), next(styles))


class TeacherTrunk(nn.Module):
    """Per-layer styles → the teacher's activations at ``resolution`` [N, 512, R, R], over the whole portrait
    frame."""

    def __init__(self, resolution: int = 16):
        super().__init__()
        if resolution not in (8, 16, 32, 64):
            raise ValueError(f"the trunk ends at the teacher's 8-, 16-, 32- or 64-px block, not {resolution}")
        self.resolution = resolution
        self.input_layer = TeacherInput()
        self.blocks = nn.ModuleList(TeacherBlock(2 ** k) for k in range(3, int(math.log2(resolution)) + 1))

    @property
    def num_style_layers(self) -> int:
        return 1 + 3 * len(self.blocks)

    def forward(self, styles) -> torch.Tensor:
        """``styles``: an iterator over [N, 512] styles, one per layer (``num_style_layers`` are taken from it)."""
        x = self.input_layer(next(styles))
        for block in self.blocks:
            x = block(x, styles)
        return x

    @torch.no_grad()
    def copy_from_teacher(self, teacher) -> "TeacherTrunk":
        """Copy the teacher's weights up to this trunk's last block, and check the copy against the teacher's graph
        on fixed styles (an error, not a silent mismatch, if the graph is laid out otherwise)."""
        graph = teacher.synthesis_graph
        end = teacher.block_outputs()[self.resolution]
        spatial = _spatial_nodes(teacher, self.resolution)
        consts = {t: [graph.const(n.inputs[1][0]) for n in spatial if n.type == t and graph.is_const(n.inputs[1][0])]
                  for t in ("Convolution", "GroupConvolution", "Add")}
        modulations = _modulations(graph, spatial)
        const_input = [graph.const(n.inputs[0][0]) for n in spatial if n.type == "Broadcast"]
        layers = [self.input_layer] + [layer for block in self.blocks for layer in (block.conv1, block.conv2)]
        affines = [self.input_layer.affine] + [a for block in self.blocks
                                               for a in (block.up_affine, block.conv1.affine, block.conv2.affine)]
        if len(modulations) != len(affines) or len(consts["Add"]) != 2 * len(layers) or len(const_input) != 1:
            raise ValueError(f"the teacher's graph up to {end} has {len(modulations)} modulations and "
                             f"{len(consts['Add'])} additive maps; this trunk expects {len(affines)} and "
                             f"{2 * len(layers)}")
        self.input_layer.const.copy_(const_input[0])
        for affine, (weight, bias) in zip(affines, modulations):
            affine.weight.copy_(weight)
            affine.bias.copy_(bias)
        convs, depthwise = iter(consts["Convolution"]), iter(consts["GroupConvolution"])
        adds = iter(consts["Add"])
        for layer in layers:
            if layer.depthwise is not None:
                layer.depthwise.copy_(next(depthwise).reshape(layer.depthwise.shape))
            layer.weight.copy_(next(convs))
            layer.noise.copy_(next(adds))
            layer.bias.copy_(next(adds))
        w = teacher.styles(torch.randn(2, STYLE_SIZE, generator=torch.Generator().manual_seed(0)))
        error = (self(iter([w] * self.num_style_layers)) - teacher.synthesis_features(w, (end,))[end]).abs().max()
        if error > 1e-3:
            raise ValueError(f"the copied trunk differs from the teacher's graph by {error:.2e}")
        return self


def _spatial_nodes(teacher, resolution: int) -> list:
    """The synthesis graph's nodes on feature maps, in order, up to the end of the teacher's block at
    ``resolution``."""
    end = teacher.block_outputs()[resolution]
    nodes = []
    for node in teacher.synthesis_graph.nodes:
        if node.output_shapes and len(node.output_shapes[0]) == 4 and node.output_shapes[0][-1] > 1:
            nodes.append(node)
        if node.name == end:
            return nodes
    raise ValueError(f"the teacher's synthesis graph has no node {end}")


def _modulations(graph, spatial: list) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The style modulations of these nodes in the order the synthesis applies them (the Multiply of a feature map
    by a style branch): one (A·scale, b·scale) per modulated layer or upsampling."""
    return [_affine(graph, n) for n in spatial
            if n.type == "Multiply" and not any(graph.is_const(src) for src, _ in n.inputs)]


def _affine(graph, multiply) -> tuple[torch.Tensor, torch.Tensor]:
    """The style branch of a modulating Multiply: walk back through Reshape and a constant scale to ``w Aᵀ + b``;
    returns (A·scale, b·scale)."""
    scale = 1.0
    node = next(graph.node(src) for src, _ in multiply.inputs if graph.node(src).output_shapes[0][-1] == 1)
    while node.type != "Add":
        if node.type == "Multiply":
            scale = scale * graph.const(next(src for src, _ in node.inputs if graph.is_const(src))).item()
        node = graph.node(next(src for src, _ in node.inputs if not graph.is_const(src)))
    matmul = graph.node(next(src for src, _ in node.inputs if not graph.is_const(src)))
    bias = graph.const(next(src for src, _ in node.inputs if graph.is_const(src)))
    return graph.const(matmul.inputs[1][0]) * scale, bias.reshape(-1) * scale


def head_region(trunk_resolution: int) -> tuple[int, int, int]:
    """(x0, y0, size): the square of the trunk's grid that the head computes: the face box with a one-cell margin
    (the head's 3×3 convs see past the box's edge), inside the frame."""
    k = trunk_resolution / PORTRAIT
    left, top = math.floor(CORPUS_BOX[0] * k) - 1, math.floor(CORPUS_BOX[1] * k) - 1
    size = max(math.ceil(CORPUS_BOX[2] * k) + 1 - left, math.ceil(CORPUS_BOX[3] * k) + 1 - top)
    size = min(size, trunk_resolution)
    return min(max(0, left), trunk_resolution - size), min(max(0, top), trunk_resolution - size), size


class TrunkHead(nn.Module):
    """The trunk's features → the 64×64 face. From the region around the face box: the teacher's next upsampling
    (the style-modulated Haar transform, 512 → 128 channels; its modulation starts as the teacher's), then per
    doubling to 64 px two modulated layers (the style student's), with a bilinear upsampling between doublings;
    then a modulated 1×1 to 2×2 sub-pixels per colour (the 128-px portrait), whose face box is resized to 64×64 as
    the teacher's faces are."""

    def __init__(self, trunk_resolution: int, channels: tuple[int, ...]):
        super().__init__()
        doublings = int(math.log2(64 // trunk_resolution))
        if len(channels) != doublings:
            raise ValueError(f"a head from {trunk_resolution} px to 64 px has {doublings} stages: head_channels "
                             f"must have {doublings} entries, got {list(channels)}")
        self.x0, self.y0, self.size = head_region(trunk_resolution)
        self.scale = PORTRAIT // trunk_resolution  # portrait pixels per trunk cell
        self.up_affine = nn.Linear(STYLE_SIZE, TEACHER_WIDTH)
        nn.init.ones_(self.up_affine.bias)
        widths = (TEACHER_WIDTH // 4, *channels)
        self.blocks = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            r = self.size * 2 ** (i + 1)
            self.blocks.append(nn.ModuleList([ModulatedLayer(c_in, c_out, r), ModulatedLayer(c_out, c_out, r)]))
        self.to_subpixels = ModulatedLayer(widths[-1], 12, r, kernel=1, demodulate=False, activate=False)

    @property
    def num_style_layers(self) -> int:
        return 2 + 2 * len(self.blocks)

    def forward(self, features: torch.Tensor, styles) -> torch.Tensor:
        x = features[:, :, self.y0:self.y0 + self.size, self.x0:self.x0 + self.size]
        x = haar_upsample(x * self.up_affine(next(styles))[:, :, None, None])  # local: cropping first is exact
        for i, (first, second) in enumerate(self.blocks):
            if i:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = second(first(x, next(styles)), next(styles))
        portrait = F.pixel_shuffle(self.to_subpixels(x, next(styles)), 2)  # from (x0, y0)·scale of the 128 frame
        x0, y0 = self.x0 * self.scale, self.y0 * self.scale
        box = portrait[..., CORPUS_BOX[1] - y0:CORPUS_BOX[3] - y0, CORPUS_BOX[0] - x0:CORPUS_BOX[2] - x0]
        return F.interpolate(box, size=(64, 64), mode="bicubic", antialias=True, align_corners=False)


class TrunkSynthesis(nn.Module):
    """w [N, 512] (W) or [N, num_style_layers, 512] (W+) → face [N, 3, 64, 64]: the trunk, then the head."""

    resolution = 64

    def __init__(self, trunk_resolution: int, head_channels: tuple[int, ...]):
        super().__init__()
        self.trunk = TeacherTrunk(trunk_resolution)
        self.head = TrunkHead(trunk_resolution, head_channels)

    @property
    def num_style_layers(self) -> int:
        return self.trunk.num_style_layers + self.head.num_style_layers

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(w)[0]

    def forward_with_features(self, w: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The face, and the trunk's last activations {trunk resolution: [N, 512, R, R]} (whole frame)."""
        styles = iter(layer_styles(w, self.num_style_layers))
        features = self.trunk(styles)
        return self.head(features, styles), {self.trunk.resolution: features}


class TrunkStudentGenerator(StyleGenerator, HubModel):
    """z [N, latent_size] ~ N(0, I) → face [N, 3, 64, 64] in [-1, 1] (not clamped): the teacher's mapping and
    trunk, then the learned head."""

    config_fields = {"latent_size": ConfigField(int), "trunk_resolution": ConfigField(int, low=8, high=32),
                     "head_channels": ConfigField(tuple, length=(1, 3)),
                     "mapping_layers": ConfigField(int, high=16)}

    def __init__(self, latent_size: int = 512, trunk_resolution: int = 16,
                 head_channels: tuple[int, ...] = HEAD_CHANNELS["cpu"], mapping_layers: int = MAPPING_LAYERS):
        super().__init__()
        self.latent_size = latent_size
        self.trunk_resolution = trunk_resolution
        self.head_channels = tuple(head_channels)
        self.mapping = StyleMapping(latent_size, STYLE_SIZE, mapping_layers)
        self.synthesis = TrunkSynthesis(trunk_resolution, self.head_channels)
        self.synthesis.trunk.requires_grad_(False)  # the teacher's: copied, never trained
        self.resolution = self.synthesis.resolution

    @torch.no_grad()
    def copy_from_teacher(self, teacher) -> "TrunkStudentGenerator":
        """The teacher's mapping and trunk, and the head's upsampling modulation from the teacher's next block; the
        head's layers keep their own (fresh or trained) weights."""
        self.mapping.copy_from_teacher(teacher)
        trunk = self.synthesis.trunk.copy_from_teacher(teacher)
        # the next block's modulations start with its upsampling's, right after the trunk's own
        spatial = _spatial_nodes(teacher, 2 * self.trunk_resolution)
        weight, bias = _modulations(teacher.synthesis_graph, spatial)[trunk.num_style_layers]
        self.synthesis.head.up_affine.weight.copy_(weight)
        self.synthesis.head.up_affine.bias.copy_(bias)
        return self


# A warm start that leaves out what the teacher gives back: the head's weights and the config (3 MB, where the whole
# generator is 29 MB, most of it the teacher's mapping and trunk). train/pack_trunk_head.py writes one, and the
# distillation's --init-from takes it (copying the rest from the installed teacher).
HEAD_FILE = "head.safetensors"
HEAD_PREFIX = "synthesis.head."


def save_head(generator: TrunkStudentGenerator, folder) -> Path:
    """Write ``folder/config.json`` and ``folder/head.safetensors`` (the head's weights only)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in generator._hub_mixin_config.items()}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    head = {k: v.detach().contiguous() for k, v in generator.state_dict().items() if k.startswith(HEAD_PREFIX)}
    save_file(head, str(folder / HEAD_FILE))
    return folder


def find_head(path) -> Path | None:
    """The folder holding a packed head: ``path`` itself or its ``generator/`` (a pack_trunk_head.py output), or
    None when neither does."""
    path = Path(path)
    return next((folder for folder in (path / "generator", path) if (folder / HEAD_FILE).is_file()), None)


def load_head(generator: TrunkStudentGenerator, folder) -> TrunkStudentGenerator:
    """Load a head written by :func:`save_head` into ``generator`` (whose config must be the folder's)."""
    folder = Path(folder)
    config = read_json_object(folder / CONFIG_NAME, "trunk head")
    mine = {k: list(v) if isinstance(v, tuple) else v for k, v in generator._hub_mixin_config.items()}
    if config != mine:
        raise ModelLoadError(f"{folder} holds a head for {config}, not for this generator's {mine}")
    weights = load_file(str(folder / HEAD_FILE))
    expected = {k: v.shape for k, v in generator.state_dict().items() if k.startswith(HEAD_PREFIX)}
    if {k: v.shape for k, v in weights.items()} != expected:
        raise ModelLoadError(f"{folder / HEAD_FILE} does not hold this head's weights")
    generator.load_state_dict(weights, strict=False)
    return generator
