"""Teacher hints: the teacher's own block activations as the distillation's perceptual term (issue 28).

No pretrained image network (VGG, LPIPS) exists offline, but the teacher is one: its synthesis blocks hold what it
knows of a face at each scale. As FitNets' hints do, a 1×1 adapter maps the student's feature map at resolution r to
the teacher's channels there, and the loss is the L1 to the teacher's map for the same style. So the student is
told *how* the teacher builds a face, not only what the face looks like at the end; the image L1 alone gives up
the fine detail first.

The two maps do not cover the same ground: the student's covers the corpus framing, the teacher's the whole
portrait. So the teacher's map at 2r is cropped to ``CORPUS_BOX``, as the faces are, and resized to r×r. At 2r the
box is 1.375 r wide, so the map is only ever resized down. Each resolution's L1 is divided by the mean magnitude of
its teacher map, so that every scale weighs alike and ``hint_weight`` does not depend on the teacher's activation
scale.

Cost on a CPU: the teacher's synthesis up to its 32-px block (hints at 16 px) is about 0.2 s for 8 faces on one core,
twice the student's own step. Up to 64 px (hints at 32 px) it is 1.3 s.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.teacher import corpus_crop


def teacher_resolution(resolution: int) -> int:
    """The teacher block whose activations hint the student's block at ``resolution``."""
    return 2 * resolution


class TeacherHints(nn.Module):
    """The 1×1 adapters, student channels → teacher channels, one per hinted resolution (trained with the student,
    checkpointed with the run, not exported: the student does not need them to make faces)."""

    def __init__(self, student_channels: dict[int, int], teacher_channels: dict[int, int],
                 resolutions: tuple[int, ...], teacher_blocks: dict[int, str] | None = None):
        """``teacher_blocks``: resolution → the teacher's node that ends the block there (``block_outputs()``),
        which :meth:`targets` reads; :meth:`for_models` gives it."""
        super().__init__()
        self.resolutions = tuple(resolutions)
        for r in self.resolutions:
            if r not in student_channels or teacher_resolution(r) not in teacher_channels:
                raise ValueError(f"hint resolution {r} needs a student block at {r} px (it has "
                                 f"{sorted(student_channels)}) and a teacher block at {teacher_resolution(r)} px "
                                 f"(it has {sorted(teacher_channels)})")
        self.adapters = nn.ModuleDict({str(r): nn.Conv2d(student_channels[r], teacher_channels[teacher_resolution(r)],
                                                         1) for r in self.resolutions})
        self.target_nodes = ({r: teacher_blocks[teacher_resolution(r)] for r in self.resolutions}
                             if teacher_blocks is not None else None)

    @classmethod
    def for_models(cls, student, teacher, resolutions: tuple[int, ...]) -> "TeacherHints":
        channels = student.synthesis.channels
        student_channels = {4 * 2 ** i: c for i, c in enumerate(channels)}
        graph, blocks = teacher.synthesis_graph, teacher.block_outputs()
        teacher_channels = {r: graph.by_name[name].output_shapes[0][1] for r, name in blocks.items()}
        return cls(student_channels, teacher_channels, resolutions, blocks)

    @torch.no_grad()
    def targets(self, teacher, w: torch.Tensor) -> dict[int, torch.Tensor]:
        """The teacher's maps for styles ``w`` [N, 512], cropped to the corpus framing: {r: [N, C_teacher, r, r]}.
        The teacher runs only as far as the largest block they need."""
        if self.target_nodes is None:
            raise ValueError("these hints were made without the teacher's blocks: use TeacherHints.for_models")
        maps = teacher.synthesis_features(w, tuple(self.target_nodes.values()))
        return {r: corpus_crop(maps[name], r) for r, name in self.target_nodes.items()}

    def loss(self, student_features: dict[int, torch.Tensor], targets: dict[int, torch.Tensor]) -> torch.Tensor:
        """The mean over the hinted resolutions of L1(adapter(student map), teacher map) / mean |teacher map|."""
        terms = []
        for r in self.resolutions:
            target = targets[r]
            predicted = self.adapters[str(r)](student_features[r])
            assert predicted.shape == target.shape, (predicted.shape, target.shape)
            terms.append((predicted - target).abs().mean() / target.abs().mean().clamp_min(1e-8))
        return torch.stack(terms).mean()
