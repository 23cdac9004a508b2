"""The teacher: MobileStyleGAN (FFHQ), the generator that made the faces128 corpus, as a torch module.

The network ships as OpenVINO IR files (``MappingNetwork`` and ``SynthesisNetwork``, 40 MB) in the PyPI package
``random-face`` (``pip install -e .[teacher]``); :class:`~srnam.models.openvino_ir.IRGraph` runs them with torch
operations, so the teacher is differentiable and runs on any device torch does. Neither the shipped models nor the
app need it: it is for distilling the student (``srnam.training.distill``), for testing the conversion, and for a
GPU search over the full teacher (:class:`MobileStyleGANTeacher` has the generator contract, below).

What it computes, as ``../shared/data/make_faces.py`` made the corpus:
- the mapping network, z [N, 512] ~ N(0, I) → style w [N, 512];
- truncation toward the mean of 2,000 mapped styles (a fixed seed), ψ = 0.8;
- the synthesis, w → a 1024×1024 portrait in [-1, 1];
- the corpus's HR framing: ``CORPUS_BOX`` of the portrait, resized to 64×64 (antialiased bicubic, close to the
  corpus's two Lanczos steps).

So ``teacher(z)`` gives [N, 3, 64, 64] faces in [-1, 1] from z [N, 512], as every SR-NAM generator does, and a
dev latent gives its dev face. It also has ``faces_from_styles`` for W and W+ codes, and
``synthesis_features`` for the block activations (a perceptual space that exists offline).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError
from .openvino_ir import IRGraph

TEACHER_PACKAGE = "random-face"
MEAN_STYLE_SEED = 20261125  # make_faces.py's: the same 2,000 z give the same mean style
MEAN_STYLE_SAMPLES = 2000
CORPUS_PSI = 0.8
CORPUS_SIZE = 128  # the corpus's portraits; srnam.faces.framing.CORPUS_BOX is in their pixels
CORPUS_BOX = (20, 32, 108, 120)  # == srnam.faces.framing.CORPUS_BOX (not imported: models sit below faces/)


TEACHER_DIR_VARIABLE = "SRNAM_TEACHER_DIR"  # a folder of the four IR files instead (train/pack_teacher.py makes one)
IR_FILES = ("MappingNetwork.xml", "MappingNetwork.bin", "SynthesisNetwork.xml", "SynthesisNetwork.bin")


def teacher_files() -> Path:
    """The folder of the teacher's IR files: ``$SRNAM_TEACHER_DIR`` when set, else the installed ``random-face``
    package's (found without importing it: its own import needs an OpenVINO API that current releases lack)."""
    if os.environ.get(TEACHER_DIR_VARIABLE):
        folder = Path(os.environ[TEACHER_DIR_VARIABLE])
        missing = [name for name in IR_FILES if not (folder / name).is_file()]
        if missing:
            raise ModelLoadError(f"${TEACHER_DIR_VARIABLE} is {folder}, which has no {missing[0]}")
        return folder
    spec = importlib.util.find_spec("random_face")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the teacher needs the PyPI package {TEACHER_PACKAGE}: pip install -e .[teacher] (or "
            f"pip install --no-deps random-face==2021.7.21.1, which leaves out its Jupyter dependencies)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    for name in IR_FILES:
        if not (folder / name).is_file():
            raise ModelLoadError(f"the {TEACHER_PACKAGE} package at {folder.parent} has no {name}: reinstall it")
    return folder


def corpus_crop(portraits: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Portraits [N, 3, R, R] (the teacher's framing) → their ``CORPUS_BOX`` region resized to size×size."""
    r = portraits.shape[-1]
    x0, y0, x1, y1 = (round(v * r / CORPUS_SIZE) for v in CORPUS_BOX)
    crop = portraits[..., y0:y1, x0:x1]
    return F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True, align_corners=False)


class MobileStyleGANTeacher(nn.Module):
    """z [N, 512] → the corpus's 64×64 HR face [N, 3, 64, 64] in [-1, 1] (see the module docstring)."""

    latent_size = 512
    # The search's Adam learning rate when none is given: the trunk student's, whose coarse layers are this
    # network's own (not measured on the teacher itself; srnam.search.search_learning_rate).
    search_learning_rate = 0.1

    def __init__(self, folder: str | Path | None = None, psi: float = CORPUS_PSI, resolution: int = 64):
        super().__init__()
        folder = Path(folder) if folder else teacher_files()
        self.mapping_graph = IRGraph(folder / "MappingNetwork.xml")
        self.synthesis_graph = IRGraph(folder / "SynthesisNetwork.xml")
        self.psi = psi
        self.resolution = resolution
        # The affine layers that turn w into each layer's modulation, in the order the synthesis uses them:
        # feeding each its own w is W+ (PULSE's space).
        self.style_layers = self._style_layers()
        self.register_buffer("mean_style", self._mean_style(), persistent=False)

    @property
    def num_style_layers(self) -> int:
        return len(self.style_layers)

    # ------------------------------------------------------------------ the generator contract
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.faces_from_styles(self.styles(z))

    def styles(self, z: torch.Tensor, psi: float | None = None) -> torch.Tensor:
        """z [N, 512] → truncated styles w [N, 512]."""
        return self.truncate(self.mapping(z), self.psi if psi is None else psi)

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.mapping_graph({"var": z})["style"]

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        return self.mean_style + psi * (w - self.mean_style)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, 512] (W) or [N, num_style_layers, 512] (W+) → 1024×1024 portraits in [-1, 1] (not clamped)."""
        return self.synthesis_graph({"style": self._plain_style(w)}, feeds=self._layer_feeds(w))["img"]

    def faces_from_styles(self, w: torch.Tensor) -> torch.Tensor:
        return corpus_crop(self.synthesis(w), self.resolution)

    def synthesis_features(self, w: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The named synthesis nodes' outputs for styles ``w``, computing only what they need."""
        return self.synthesis_graph({"style": self._plain_style(w)}, outputs=names, results=False,
                                    feeds=self._layer_feeds(w))

    def block_outputs(self) -> dict[int, str]:
        """Resolution → name of the last activation at that resolution (the end of each synthesis block)."""
        ends = {}
        for node in self.synthesis_graph.nodes:
            shape = node.output_shapes[0] if node.output_shapes else ()
            if node.type == "PReLU" and len(shape) == 4:
                ends[shape[-1]] = node.name
        return dict(sorted(ends.items()))

    # ------------------------------------------------------------------ internals
    def _plain_style(self, w: torch.Tensor) -> torch.Tensor:
        return w if w.dim() == 2 else w[:, 0]  # W+: shape arithmetic reads the batch size from it only

    def _layer_feeds(self, w: torch.Tensor) -> dict[str, torch.Tensor] | None:
        if w.dim() == 2:
            return None
        if w.dim() != 3 or w.shape[1] != self.num_style_layers:
            raise ValueError(f"W+ styles must be [N, {self.num_style_layers}, 512], got {list(w.shape)}")
        graph = self.synthesis_graph
        return {node.id: w[:, i] @ graph.const(node.inputs[1][0]).t() for i, node in enumerate(self.style_layers)}

    def _style_layers(self) -> list:
        graph = self.synthesis_graph
        style_id = graph.parameters_by_name["style"]
        position = {node.id: i for i, node in enumerate(graph.nodes)}
        layers = [n for n in graph.consumers(style_id) if n.type == "MatMul"]
        for node in layers:
            if node.attrs.get("transpose_b") != "true" or not graph.is_const(node.inputs[1][0]):
                raise ModelLoadError("the synthesis graph's style affine layers are not the expected w · Aᵀ")

        def first_use(node) -> int:  # the first node that applies this style to a feature map (4-D, spatial)
            stack, best = [node], len(graph.nodes)
            while stack:
                current = stack.pop()
                for consumer in graph.consumers(current.id):
                    shape = consumer.output_shapes[0] if consumer.output_shapes else ()
                    if len(shape) == 4 and shape[-1] > 1:
                        best = min(best, position[consumer.id])
                    else:
                        stack.append(consumer)
            return best

        return sorted(layers, key=first_use)

    @torch.no_grad()
    def _mean_style(self) -> torch.Tensor:
        rng = np.random.default_rng(MEAN_STYLE_SEED)
        # make_faces.py maps one z at a time; batching changes nothing but the speed (checked to 1e-6)
        z = np.concatenate([rng.standard_normal((1, 512)).astype(np.float32) for _ in range(MEAN_STYLE_SAMPLES)])
        return self.mapping(torch.from_numpy(z)).mean(0, keepdim=True)
