"""The named ways of making a 16×16 search input from a face: one registry for every front end.

The app's face and photo tabs, ``srnam upscale``, ``srnam evaluate``, ``srnam quickstart`` and the benchmarks all
turn a face into the LR image the search matches, and all take the way of doing it from here, by name:

* ``"area"``: the face reduced by area averaging (a box filter; enlarged bicubically if it is smaller than 16 px):
  a clean, idealised LR image. Its old name in the app and ``srnam upscale`` was ``"downsample"``.
* ``"bicubic"``: the face reduced by bicubic interpolation (sharper, with aliasing).
* ``"degrade"``: the face, resized to the models' 64×64, photographed by the camera model (the pipeline's
  degradation model, :meth:`~srnam.models.DegradationGenerator.photograph`) with a seeded noise vector: the face
  as a realistic low-quality camera would have taken it. Its old name in ``srnam evaluate`` was ``"degradation"``.
* ``"synthetic"``: the training data's own LR synthesiser (:class:`srnam.training.data.RealisticDegradation`: a
  random chain of blur, downsampling kernel, noise, JPEG and colour shifts, seeded): the synthetic LR domain the
  camera model was trained to imitate.

An upload that already is a small, low-quality face is not made into an LR image at all: ``srnam.faces.lr_input``
takes it "as-is". The old names are still accepted (:func:`lr_source_name`), so that old scripts keep working.
"""
from __future__ import annotations

import random
from typing import Sequence

import torch
from PIL import Image

from ..images import pil_to_tensor, tensor_to_pil
from ..training.data import RealisticDegradation

LR_SOURCES = ("area", "bicubic", "degrade", "synthetic")
OLD_NAMES = {"downsample": "area", "degradation": "degrade"}


def lr_source_name(name: str, allowed: Sequence[str] = LR_SOURCES, what: str = "LR source") -> str:
    """``name`` in its one spelling (old names translated), or a ValueError that lists ``allowed``: the sources, or
    the modes a front end builds on them (``what`` names the argument in the message)."""
    name = OLD_NAMES.get(name, name)
    if name not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {name!r}")
    return name


def make_lr_images(faces: Sequence[Image.Image], source: str, degradation, seeds: Sequence[int]) -> list[Image.Image]:
    """The 16×16 (``degradation.lr_size``) LR image of each face, made by ``source``; ``seeds`` (one per face) seed
    the random parts, so that a face's image does not depend on the others in the list."""
    source = lr_source_name(source)
    if len(seeds) != len(faces):
        raise ValueError(f"one seed per face: {len(faces)} faces, {len(seeds)} seeds")
    lr_size, hr_size = degradation.lr_size, degradation.hr_size
    if not faces:
        return []
    if source == "degrade":  # one batched pass; each face's photo depends only on its own seed
        hr = torch.cat([pil_to_tensor(face if face.size == (hr_size, hr_size) else
                                      face.resize((hr_size, hr_size), Image.Resampling.LANCZOS)) for face in faces])
        return [tensor_to_pil(photo) for photo in degradation.photograph(hr, list(seeds))]
    if source == "synthetic":
        synthesiser = RealisticDegradation(lr_size=lr_size)
        return [synthesiser(face, random.Random(seed)) for face, seed in zip(faces, seeds)]
    if source == "bicubic":
        return [face.resize((lr_size, lr_size), Image.Resampling.BICUBIC) for face in faces]
    return [face.resize((lr_size, lr_size), Image.Resampling.BOX if min(face.size) >= lr_size
                        else Image.Resampling.BICUBIC) for face in faces]
