"""The generator families a pipeline folder may hold, and the one function that loads either.

Both keep one contract: ``G(z)`` with z ~ N(0, I) [N, latent_size] → faces [N, 3, 64, 64] in [-1, 1].
A folder's family is read from its ``config.json`` before anything is built: a style student's config has
``mapping_layers``; every other one (every folder written before the student existed) is a ProGAN.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelLoadError
from .hub import CONFIG_NAME, HubModel, read_json_object
from .progan import ProGANGenerator
from .style_student import StyleStudentGenerator

GENERATOR_FAMILIES: dict[str, type[HubModel]] = {"progan": ProGANGenerator, "style-student": StyleStudentGenerator}


def generator_family(folder: str | Path) -> type[HubModel]:
    """The generator class for ``folder/config.json`` (its fields are checked later, by the class's loader)."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelLoadError(f"generator: missing {CONFIG_NAME} in {folder}")
    config = read_json_object(path, "generator")
    style = "mapping_layers" in config
    return GENERATOR_FAMILIES["style-student" if style else "progan"]


def load_generator(folder: str | Path, device: str | torch.device = "cpu") -> HubModel:
    """A generator folder (config.json + model.safetensors) of either family, loaded strictly."""
    return generator_family(folder).from_folder(folder, device)
