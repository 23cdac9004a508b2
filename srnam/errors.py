"""Exceptions SR-NAM raises for problems a user can fix (bad input, missing or broken models)."""


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
