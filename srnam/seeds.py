"""Per-item seeds: the same for an image whatever the order, the batch or the number of processes."""
from __future__ import annotations

import hashlib


def image_seed(base_seed: int, name: str) -> int:
    """A seed in [0, 2^31) from the base seed and an item's name (an image's path, a batch's label)."""
    digest = hashlib.sha256(f"{base_seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1
