"""Exceptions SR-NAM raises for problems a user can fix (bad input, missing or broken models)."""


class SRNAMError(Exception):
    """Base class of every error SR-NAM raises on purpose."""


class InvalidImageError(SRNAMError, ValueError):
    """The input is not an image SR-NAM can use (not an image, truncated, too small, too large)."""


class ModelLoadError(SRNAMError, OSError):
    """A model folder or Hub repo is missing, incomplete, offline-only, or does not match its config."""
