"""The whole-photo results the server keeps, so that a page can choose other candidates without a new search.

A result holds the uploaded photo (3 bytes a pixel) and every face's candidates: tens of MB for a large photo.
Kept per page without a bound, a hundred large uploads would fill the server's memory. So the results live
here, under a total byte budget: the least recently used ones are dropped first, and each also after
``max_age`` seconds unused. A page's state holds only its result's key; a key whose result was dropped tells
the page that the result expired (:meth:`PhotoResults.get` returns ``EXPIRED``).

What is kept is the result without its composed photo (up to 25 MP at the app's limits): a choice composes the
photo again anyway.
"""
from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections import OrderedDict
from typing import Callable

from srnam.faces.photo import PhotoResult

EXPIRED = "expired"  # what get() returns for a key whose result was dropped


def result_bytes(result: PhotoResult) -> int:
    """The memory a kept result takes, counted as its images' pixels (what dominates it)."""
    images = [result.photo]
    for face in result.faces:
        out = face.output
        images += [face.lr_input, face.uncertainty, out.lr_input, *out.hr_candidates, *out.lr_projections]
    return sum(image.width * image.height * len(image.getbands()) for image in images)


class PhotoResults:
    """Kept results by key, least recently used first (thread-safe: handlers run in Gradio's worker threads)."""

    def __init__(self, max_bytes: int, max_result_bytes: int, max_age: float,
                 clock: Callable[[], float] = time.monotonic):
        if max_result_bytes > max_bytes:
            raise ValueError(f"one result's cap ({max_result_bytes} bytes) is above the total ({max_bytes})")
        self.max_bytes, self.max_result_bytes, self.max_age, self.clock = max_bytes, max_result_bytes, max_age, clock
        self._kept: OrderedDict[str, tuple[PhotoResult, int, float]] = OrderedDict()  # key → (result, bytes, used)
        self._lock = threading.Lock()

    def put(self, result: PhotoResult) -> str | None:
        """Keep ``result`` (without its composed photo) and return its key, dropping the least recently used
        results beyond the budget; None if this one result is over ``max_result_bytes`` (it is not kept)."""
        kept = dataclasses.replace(result, composed=None, choices=list(result.choices))
        size = result_bytes(kept)
        if size > self.max_result_bytes:
            return None
        key = secrets.token_urlsafe(16)  # unguessable: another page cannot choose in this one's result
        with self._lock:
            self._drop_stale()
            self._kept[key] = (kept, size, self.clock())
            while self.total_bytes > self.max_bytes:
                self._kept.popitem(last=False)
        return key

    def get(self, key: str | None) -> PhotoResult | str | None:
        """The result of ``key`` (now the most recently used), ``EXPIRED`` if it was dropped, None for no key."""
        if key is None:
            return None
        with self._lock:
            self._drop_stale()
            if key not in self._kept:
                return EXPIRED
            result, size, _ = self._kept.pop(key)
            self._kept[key] = (result, size, self.clock())
            return result

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._kept.values())

    def __len__(self) -> int:
        return len(self._kept)

    def _drop_stale(self) -> None:
        now = self.clock()
        while self._kept and now - next(iter(self._kept.values()))[2] > self.max_age:
            self._kept.popitem(last=False)  # least recently used first: the oldest use is at the front
