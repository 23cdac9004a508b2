"""Strict, pickle-free loading of a model folder (``config.json`` + ``model.safetensors``).

Every SR-NAM model subclasses :class:`HubModel`. It keeps ``PyTorchModelHubMixin``'s saving and
pushing (config.json from the ``__init__`` arguments, weights as safetensors) but loads through
:func:`load_model_folder`, which checks the weights against the config *before* loading and names
what does not match. (The mixin's default loader is non-strict and would leave missing weights at
their random initial values without a word.)

A model folder may come from anyone, so nothing in it is trusted before it is checked, in this order:
the config's fields against the class's :class:`ConfigField` table (types and ranges: a hostile
``"latent_size": 1e12`` or a width of -1 never reaches a constructor); the shapes the config implies
against the safetensors header, with the model built on the ``meta`` device and the header read
without loading a tensor (so neither side allocates); then the weights themselves, which must be finite.
Every failure is a :class:`ModelLoadError`.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import ClassVar, TypeVar

import torch
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from ..errors import ModelLoadError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

MAX_CONFIG_BYTES = 64 * 1024  # a model's config.json is a few lines; a bigger one is not a config

M = TypeVar("M", bound="HubModel")


@dataclasses.dataclass(frozen=True)
class ConfigField:
    """What one ``config.json`` field may hold: an int in [low, high] (a multiple of ``multiple_of``), a bool,
    or (``widths``) a list of such ints whose length is in ``length``."""

    kind: type = int  # int, bool, or tuple for a list of ints
    low: int = 1
    high: int = 4096
    multiple_of: int = 1
    length: tuple[int, int] = (1, 9)

    def problem(self, name: str, value) -> str | None:
        """Why ``value`` is not allowed, or None."""
        if self.kind is bool:
            return None if isinstance(value, bool) else f"{name} must be true or false, got {value!r}"
        if self.kind is tuple:
            if not isinstance(value, list):
                return f"{name} must be a list of integers, got {value!r}"
            lo, hi = self.length
            if not lo <= len(value) <= hi:
                count = f"{lo}" if lo == hi else f"{lo} to {hi}"
                return f"{name} must have {count} entries, got {len(value)}"
            entry = dataclasses.replace(self, kind=int)
            return next((why for i, item in enumerate(value) if (why := entry.problem(f"{name}[{i}]", item))), None)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer, got {value!r}"
        if not self.low <= value <= self.high:
            return f"{name} must be in [{self.low}, {self.high}], got {value}"
        if value % self.multiple_of:
            return f"{name} must be a multiple of {self.multiple_of}, got {value}"
        return None


class HubModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="srnam",
    tags=["super-resolution", "face", "srnam"],
):
    # The config.json fields a saved model may have (the __init__ arguments), checked before anything is built.
    config_fields: ClassVar[dict[str, ConfigField]] = {}
    # Weight names of earlier layouts → today's (regex, replacement), applied wherever weights are loaded: model
    # folders, and training checkpoints through load_state_dict.
    legacy_key_renames: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def current_key(cls, key: str) -> str:
        for pattern, replacement in cls.legacy_key_renames:
            key = re.sub(pattern, replacement, key)
        return key

    def load_state_dict(self, state_dict, *args, **kwargs):
        return super().load_state_dict({self.current_key(k): v for k, v in state_dict.items()}, *args, **kwargs)

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
    config = read_config(cls, config_path)
    try:
        with torch.device("meta"):  # shapes only: no memory, whatever the config says
            expected = {k: tuple(v.shape) for k, v in cls(**config).state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as err:
        raise ModelLoadError(f"{cls.__name__}: invalid {config_path}: {err}") from err
    try:
        with safe_open(str(weights_path), framework="pt") as f:  # reads the header only
            found = {cls.current_key(k): tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelLoadError(f"{cls.__name__}: {weights_path} is not a readable safetensors file: {err}") from err
    if problems := _mismatches(expected, found):
        raise ModelLoadError(
            f"{cls.__name__}: {weights_path} does not match {config_path}: " + "; ".join(problems))
    try:
        state = load_file(weights_path, device=str(device))
    except (SafetensorError, OSError) as err:
        raise ModelLoadError(f"{cls.__name__}: {weights_path} is not a readable safetensors file: {err}") from err
    non_finite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if non_finite:
        raise ModelLoadError(f"{cls.__name__}: {weights_path} holds non-finite values (NaN or infinity) in "
                             f"{len(non_finite)} tensor(s), e.g. {non_finite[0]}: the file is corrupt, or was "
                             f"saved from a diverged training run")
    model = cls(**config)
    model.load_state_dict(state)
    return model.to(device).eval()


def read_json_object(path: Path, who: str) -> dict:
    """A model folder's ``config.json`` as a dict, refused (a :class:`ModelLoadError` naming ``who``) when it is too
    large to be a config, not JSON, or not a JSON object. Its fields are not checked here."""
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ModelLoadError(f"{who}: {path} is {path.stat().st_size} bytes: not a model config "
                             f"(at most {MAX_CONFIG_BYTES})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{who}: invalid {path}: not JSON ({err})") from err
    if not isinstance(config, dict):
        raise ModelLoadError(f"{who}: invalid {path}: expected a JSON object, got {type(config).__name__}")
    return config


def read_config(cls: type[HubModel], path: Path) -> dict:
    """``config.json`` as keyword arguments of ``cls``, every field checked against ``cls.config_fields``."""
    config = read_json_object(path, cls.__name__)
    problems = [f"unknown field {key!r} (expected some of {', '.join(cls.config_fields)})"
                for key in config if key not in cls.config_fields]
    problems += [why for key, value in config.items() if key in cls.config_fields
                 if (why := cls.config_fields[key].problem(key, value))]
    if problems:
        raise ModelLoadError(f"{cls.__name__}: invalid {path}: " + "; ".join(problems))
    return config


def _mismatches(expected: dict[str, tuple], found: dict[str, tuple]) -> list[str]:
    """What differs between the tensors a config implies and those a weights file holds (name → shape)."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong_shape = [f"{k}: weights {found[k]} vs config {expected[k]}"
                   for k in expected if k in found and found[k] != expected[k]]
    problems = []
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} shape mismatch(es), e.g. {wrong_shape[0]}")
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing from the weights, e.g. {missing[0]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]}")
    return problems
