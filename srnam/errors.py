"""Exceptions SR-NAM raises for problems a user can fix (bad input, missing or broken models)."""


class SRNAMError(Exception):
    """Base class of every error SR-NAM raises on purpose."""


class InvalidImageError(SRNAMError, ValueError):
    """The input is not an image SR-NAM can use. ``reason`` is a short category for reports:
    "no such file", "not an image", "truncated or corrupt", "too small", "too large", "bad tensor" or
    "bad array"."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class ModelLoadError(SRNAMError, OSError):
    """A model folder or Hub repo is missing, incomplete, offline-only, or does not match its config."""


class SearchDivergedError(SRNAMError, ArithmeticError):
    """The latent search's loss became non-finite (NaN or infinity): this input has no result."""
