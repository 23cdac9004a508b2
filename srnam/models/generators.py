"""The generator families a pipeline folder may hold, and the one function that loads either.

Both keep one contract: ``G(z)`` with z ~ N(0, I) [N, latent_size] → faces [N, 3, 64, 64] in [-1, 1].
A folder's family is read from its ``config.json`` before anything is built: a trunk student's config has
``trunk_resolution``, a style student's ``mapping_layers``; every other one (every folder written before the
students existed) is a ProGAN.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelLoadError
from .hub import CONFIG_NAME, HubModel, read_json_object
from .progan import ProGANGenerator
from .style_student import StyleStudentGenerator
from .trunk_student import TrunkStudentGenerator

GENERATOR_FAMILIES: dict[str, type[HubModel]] = {"progan": ProGANGenerator, "style-student": StyleStudentGenerator,
                                                 "style-trunk": TrunkStudentGenerator}


def generator_family(folder: str | Path) -> type[HubModel]:
    """The generator class for ``folder/config.json`` (its fields are checked later, by the class's loader)."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelLoadError(f"generator: missing {CONFIG_NAME} in {folder}")
    config = read_json_object(path, "generator")
    if "trunk_resolution" in config:
        return GENERATOR_FAMILIES["style-trunk"]
    return GENERATOR_FAMILIES["style-student" if "mapping_layers" in config else "progan"]


def load_generator(folder: str | Path, device: str | torch.device = "cpu") -> HubModel:
    """A generator folder (config.json + model.safetensors) of either family, loaded strictly."""
    return generator_family(folder).from_folder(folder, device)
