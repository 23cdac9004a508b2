"""Strict, pickle-free loading of a model folder (``config.json`` + ``model.safetensors``).

Every SR-NAM model subclasses :class:`HubModel`. It keeps ``PyTorchModelHubMixin``'s saving and
pushing (config.json from the ``__init__`` arguments, weights as safetensors) but loads through
:func:`load_model_folder`, which checks the weights against the config *before* loading and names
what does not match. (The mixin's default loader is non-strict and would leave missing weights at
their random initial values without a word.)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import torch
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import ModelLoadError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

M = TypeVar("M", bound="HubModel")


class HubModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="srnam",
    tags=["super-resolution", "face", "srnam"],
):
    @classmethod
    def from_folder(cls: type[M], folder: str | Path, device: str | torch.device = "cpu") -> M:
        return load_model_folder(cls, Path(folder), device)

    @classmethod
    def _from_pretrained(cls, *, model_id, revision, cache_dir, force_download, local_files_only, token,
                         map_location="cpu", **model_kwargs):
        # Called by the mixin's from_pretrained(); route both local folders and Hub repos through
        # the strict loader.
        folder = Path(model_id)
        if not folder.is_dir():
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(
                model_id, revision=revision, cache_dir=cache_dir, force_download=force_download,
                local_files_only=local_files_only, token=token, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME],
            ))
        return load_model_folder(cls, folder, map_location)


def load_model_folder(cls: type[M], folder: Path, device: str | torch.device = "cpu") -> M:
    """Build ``cls`` from ``folder/config.json`` and load ``folder/model.safetensors`` strictly."""
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ModelLoadError(f"{cls.__name__}: missing {path.name} in {folder}")
    try:
        config = json.loads(config_path.read_text())
        model = cls(**config)
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise ModelLoadError(f"{cls.__name__}: invalid {config_path}: {err}") from err
    try:
        state = load_file(weights_path, device=str(device))
    except (SafetensorError, OSError) as err:
        raise ModelLoadError(f"{cls.__name__}: {weights_path} is not a readable safetensors file: {err}") from err

    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{k}: weights {tuple(state[k].shape)} vs config {tuple(expected[k].shape)}"
                   for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        problems = []
        if wrong_shape:
            problems.append(f"{len(wrong_shape)} shape mismatch(es), e.g. {wrong_shape[0]}")
        if missing:
            problems.append(f"{len(missing)} tensor(s) missing from the weights, e.g. {missing[0]}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]}")
        raise ModelLoadError(
            f"{cls.__name__}: {weights_path} does not match {config_path}: " + "; ".join(problems))
    model.load_state_dict(state)
    return model.to(device).eval()
