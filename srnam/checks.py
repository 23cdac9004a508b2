"""The range checks that every front end shares (the search's settings, whole photos, the CLI's argument types):
one wording for one kind of mistake. A wrong type is a ``TypeError``, a value out of range a ``ValueError``."""
from __future__ import annotations

import math


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
