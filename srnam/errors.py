"""Exceptions SR-NAM raises for problems a user can fix (bad input, missing or broken models), and the range checks
that every front end shares (the search's settings, whole photos, the CLI's argument types): one wording for one kind
of mistake. A wrong type is a ``TypeError``, a value out of range a ``ValueError``."""
from __future__ import annotations

import math


class SRNAMError(Exception):
    """Base class of every error SR-NAM raises on purpose."""


class InvalidImageError(SRNAMError, ValueError):
    """The input is not an image SR-NAM can use. ``reason`` is a short category for reports:
    "no such file", "not an image", "truncated or corrupt", "too small", "too large", "bad tensor" or
    "bad array". ``detail`` is the message without the input's name in front ("image too small (1×1); …"),
    for callers that name the input their own way (the app names an upload by the user's file name, never by
    its path on the server)."""

    def __init__(self, message: str, reason: str, detail: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.detail = message if detail is None else detail

    @classmethod
    def of(cls, name: str, detail: str, reason: str) -> "InvalidImageError":
        """The error "``name``: ``detail``"."""
        return cls(f"{name}: {detail}", reason, detail)


class ModelLoadError(SRNAMError, OSError):
    """A model folder or Hub repo is missing, incomplete, offline-only, or does not match its config."""


class SearchDivergedError(SRNAMError, ArithmeticError):
    """The latent search's loss became non-finite (NaN or infinity): this input has no result."""


# ------------------------------------------------------------------------------------------- range checks
def check_int(name: str | None, value, low: int, high: int | None = None) -> int:
    """``value`` if it is an integer from ``low`` to ``high`` (no upper bound when None). ``name`` starts the
    message ("num_steps must be between 1 and 10000, got 0"); None leaves it out, for argparse to add its own."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(_named(name, f"must be an integer, got {value!r}"))
    if value < low or (high is not None and value > high):
        within = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(_named(name, f"must be {within}, got {value}"))
    return value


def check_rate(name: str | None, value, high: float) -> float:
    """``value`` if it is a finite number in (0, ``high``] (a learning rate, a step size)."""
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 < value <= high):
        raise ValueError(_named(name, f"must be a number in (0, {high:g}], got {value!r}"))
    return value


def _named(name: str | None, message: str) -> str:
    return message if name is None else f"{name} {message}"
