"""Writing JSON that every reader can parse: strict JSON (no bare NaN or Infinity), written atomically.

Python's ``json`` writes ``NaN`` for a float NaN by default, which is not JSON, and a file written in
place is half written if the process dies. Every JSON file SR-NAM writes goes through :func:`write_json`.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path


def finite_or_null(value):
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, in nested dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def dumps(data, indent: int | None = 2) -> str:
    """Strict JSON of ``data``; non-finite numbers become null."""
    return json.dumps(finite_or_null(data), indent=indent, allow_nan=False)


def write_json(path: str | os.PathLike, data, indent: int | None = 2) -> Path:
    """Write ``data`` to ``path`` as strict JSON, through a temporary file and a rename (never half written)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(dumps(data, indent) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path
