"""Serving rules of the demo: what one request may ask for, how its values are checked, how the app is launched.

The sliders in the page are only a convenience: anyone can call the app's API with any values, so every
request is checked here, on the server, against ``Limits`` (which also bounds the queue and uploads).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr

from srnam.errors import InvalidImageError
from srnam.images import shown_name
from srnam.faces.lr_input import LR_MODES
from srnam.search import SearchSettings
from srnam.faces.photo import PHOTO_LR_MODES


@dataclass(frozen=True)
class Limits:
    max_candidates: int = 16
    max_steps: int = 1000  # the slider starts at 50; API calls may ask for fewer (tests do)
    max_seed: int = 2**31 - 1
    max_learning_rate: float = 1.0
    # Searches running at once. Each one already uses every CPU core, so a higher limit does not add
    # throughput; 2 lets a short request start while a long one runs.
    concurrency: int = 2
    queue_size: int = 16  # requests waiting beyond this are told the queue is full
    max_file_size: str = "25mb"  # uploads; a phone photo is a few MB (srnam also rejects > 40 MP)
    preview_seconds: float = 1.0  # how often the page gets an intermediate grid while the search runs
    # Whole photos: faces × candidates × steps of one request (16 faces × 4 candidates × 300 steps). The largest
    # faces that fit are searched and the page says how many were left out.
    max_photo_work: int = 19_200
    max_photo_faces: int = 16
    max_photo_scale: int = 8
    max_composed_pixels: int = 25_000_000  # the enlarged photo; a smaller scale is used beyond it (and said)
    # The photo itself, refused from its header beyond this (a 150-byte PNG can claim 36 MP): a 16 MP phone photo
    # fits. Below max_composed_pixels, so that every accepted photo can be composed, at scale 1 at least.
    max_photo_pixels: int = 16_000_000
    # Whole-photo results kept for choosing candidates (demo/photo_results.py): this many bytes in all, least
    # recently used dropped first; one result (its photo, 3 bytes a pixel, and its faces) at most kept_result_bytes.
    kept_bytes: int = 512 * 2**20
    kept_result_bytes: int = 64 * 2**20
    # Gradio keeps a copy of every image and download it sends; copies older than this are deleted (checked
    # every cache_seconds too), so the disk stays bounded however many requests come.
    cache_seconds: int = 3600

    def __post_init__(self):
        if self.max_photo_pixels > self.max_composed_pixels:
            raise ValueError("max_photo_pixels must not exceed max_composed_pixels: a photo must fit at scale 1")
        if 3 * self.max_photo_pixels > self.kept_result_bytes:
            raise ValueError("kept_result_bytes must hold the largest photo (3 bytes a pixel) and its faces")


def budget_sliders(limits: Limits, candidates_label: str, elem_prefix: str) -> tuple[gr.Slider, gr.Slider, gr.Slider]:
    """The candidates, steps and seed sliders of a tab (``_search_budget`` checks what they send), with element
    ids ``{elem_prefix}-candidates`` and ``{elem_prefix}-steps``."""
    candidates = gr.Slider(1, limits.max_candidates, value=4, step=1, label=candidates_label,
                           elem_id=f"{elem_prefix}-candidates")
    steps = gr.Slider(50, limits.max_steps, value=300, step=10, label="Iteration budget (search steps)",
                      elem_id=f"{elem_prefix}-steps")
    seed = gr.Slider(0, 9999, value=0, step=1, label="Seed (same seed, same candidates)")
    return candidates, steps, seed


class BadRequest(ValueError):
    """A request the app refuses; the message is shown in the page as is."""


def unusable_file(err: InvalidImageError, image_name: str) -> str:
    """The page's message for an upload srnam refused. srnam names a file by its path, which for an upload is
    in Gradio's folder on the server: the page names it by the user's file name instead, and shows no path."""
    return f"**Cannot use this file.** {shown_name(image_name)}: {err.detail}"


@dataclass(frozen=True)
class SearchRequest:
    """One request's checked values. Each request carries its own seeds: nothing is shared between them."""

    image_path: str  # the upload, in Gradio's upload folder
    image_name: str  # the name the user's file had, for messages
    search: SearchSettings  # candidates, steps, seed and learning rate, within the app's limits
    lr_mode: str
    noise_seed: int


@dataclass(frozen=True)
class PhotoRequest:
    """One whole-photo request's checked values."""

    image_path: str
    image_name: str
    search: SearchSettings
    scale: int
    lr_mode: str

    def max_faces(self, limits: Limits) -> int:
        """The most faces this request may search within ``limits.max_photo_work`` (at least one)."""
        work = self.search.num_candidates * self.search.num_steps
        return max(1, min(limits.max_photo_faces, limits.max_photo_work // work))


def parse_photo_request(limits: Limits, image, num_candidates, num_steps, seed, scale, lr_mode) -> PhotoRequest:
    """Check the raw values of one whole-photo request, or raise BadRequest (see ``parse_request``)."""
    path, name = _upload(image, missing="Upload a photo first (or pick the example).")
    if lr_mode not in PHOTO_LR_MODES:
        raise BadRequest(f"LR input mode must be one of {', '.join(PHOTO_LR_MODES)} (got {lr_mode!r}).")
    return PhotoRequest(image_path=path, image_name=name, search=_search_budget(limits, num_candidates, num_steps, seed),
                        scale=whole_number("Scale", scale, 1, limits.max_photo_scale), lr_mode=lr_mode)


def parse_request(limits: Limits, image, num_candidates, num_steps, seed, learning_rate, lr_mode,
                  noise_seed) -> SearchRequest:
    """Check the raw values of one request (as the browser or an API client sent them) or raise BadRequest.

    ``image`` is Gradio's file description of the upload (a dict with ``path`` and ``orig_name``): the
    app takes uploads unprocessed so that srnam opens the original file and reports problems itself.
    """
    path, name = _upload(image)
    if not (isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool)
            and math.isfinite(learning_rate) and 0 < learning_rate <= limits.max_learning_rate):
        raise BadRequest(f"Learning rate must be a number above 0 and at most {limits.max_learning_rate} "
                         f"(got {learning_rate!r}).")
    if lr_mode not in LR_MODES:
        raise BadRequest(f"LR input mode must be one of {', '.join(LR_MODES)} (got {lr_mode!r}).")
    return SearchRequest(
        image_path=path, image_name=name,
        search=replace(_search_budget(limits, num_candidates, num_steps, seed), learning_rate=float(learning_rate)),
        lr_mode=lr_mode, noise_seed=whole_number("Noise seed", noise_seed, 0, limits.max_seed),
    )


def _search_budget(limits: Limits, num_candidates, num_steps, seed) -> SearchSettings:
    """The checks both tabs make of the search's size and seed."""
    return SearchSettings(num_candidates=whole_number("Number of candidates", num_candidates, 1, limits.max_candidates),
                          num_steps=whole_number("Iteration budget", num_steps, 1, limits.max_steps),
                          seed=whole_number("Seed", seed, 0, limits.max_seed))


def whole_number(label: str, value, low: int, high: int) -> int:
    """``value`` as an int if it is a whole number from ``low`` to ``high``, else BadRequest naming ``label``."""
    # Browsers send slider values as JSON numbers, which may arrive as 4.0; accept those, refuse the rest.
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not low <= value <= high:
        raise BadRequest(f"{label} must be a whole number from {low} to {high} (got {value!r}).")
    return int(value)


def _upload(image, missing: str = "Upload a face image first (or pick one of the examples).") -> tuple[str, str]:
    if image is None:
        raise BadRequest(missing)
    path = image.get("path") if isinstance(image, dict) else None
    if not path:
        raise BadRequest("The upload did not arrive as a file; please upload it again.")
    return path, image.get("orig_name") or Path(path).name


class StopSwitches:
    """How the Stop button reaches the searches of its page: each search gets its own switch (a
    ``threading.Event``) for as long as it runs, filed under its browser session.

    Pressing Stop sets the switches of the session's running searches, and a search that was still
    waiting in the queue when Stop was pressed (after its Run click) starts with its switch already set.
    Only running searches and open pages are remembered (a closed page is forgotten), so this stays small.

    (Gradio's ``cancels=`` would also stop a search, by closing its generator, but in Gradio 6.31 it now
    and then leaves a red "Error" badge on the page; a switch lets the search end normally and show the
    candidates it reached.) The methods take the ``gr.Request`` that Gradio passes to event functions.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._running: dict[str, set[threading.Event]] = {}  # session → switches of its running searches
        self._run_clicked: dict[str, float] = {}  # session → when Run was last clicked (browser pages only)
        self._stop_clicked: dict[str, float] = {}  # session → when Stop was last clicked after a Run

    def run_clicked(self, request: gr.Request) -> None:
        with self._lock:
            self._run_clicked[request.session_hash] = time.monotonic()

    def take(self, request: gr.Request) -> threading.Event:
        """A new switch for a search that starts now."""
        session, switch = request.session_hash, threading.Event()
        with self._lock:
            if self._stop_clicked.get(session, -math.inf) > self._run_clicked.get(session, math.inf):
                switch.set()  # Stop came after this search's Run click, while it waited in the queue
            self._running.setdefault(session, set()).add(switch)
        return switch

    def press(self, request: gr.Request) -> None:
        session = request.session_hash
        with self._lock:
            if session in self._run_clicked:
                self._stop_clicked[session] = time.monotonic()
            for switch in self._running.get(session, ()):
                switch.set()

    def release(self, request: gr.Request, switch: threading.Event) -> None:
        """The search that took ``switch`` has ended."""
        with self._lock:
            running = self._running.get(request.session_hash, set())
            running.discard(switch)
            if not running:
                self._running.pop(request.session_hash, None)

    def forget(self, request: gr.Request) -> None:
        """The page was closed."""
        with self._lock:
            for table in (self._running, self._run_clicked, self._stop_clicked):
                table.pop(request.session_hash, None)

    def sessions(self) -> int:
        """How many sessions are remembered (tests check that this stays bounded)."""
        with self._lock:
            return len(self._running.keys() | self._run_clicked.keys() | self._stop_clicked.keys())


@dataclass
class ServerNotice:
    """A message shown at the top of every page load; empty for none. Set after launch, when the server
    knows something the page should say (for example that the public share link could not be made)."""

    text: str = ""


# Gradio gives a gallery without a fixed height a minimum of 450 px (wide screens): a box that 1–4 candidates in
# one row leave mostly empty. Ours is as tall as its rows.
PAGE_CSS = ("#srnam-gallery .grid-wrap.fixed-height, #srnam-photo-gallery .grid-wrap.fixed-height "
            "{ min-height: 0; max-height: none; }")


def launch(demo, limits: Limits, notice: ServerNotice, *, host: str, port: int, share: bool = False) -> str | None:
    """Start serving ``demo`` without blocking and return its public share URL (None without one).

    Gradio does not raise when the share tunnel cannot be made (offline, gradio.live unreachable): it
    prints a hint and leaves ``share_url`` at None. The console and the page then say plainly that
    only the local URL works, and the app keeps serving.
    """
    demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                max_file_size=limits.max_file_size, css=PAGE_CSS)
    if share and demo.share_url is None:
        notice.text = (f"**The public share link could not be created** (no internet, or the share "
                       f"server is unreachable). Only the local URL works: {demo.local_url}")
        print(f"\n*** No public link: only the local URL works: {demo.local_url} "
              f"(the share tunnel could not be created; the app keeps serving locally) ***\n", flush=True)
    return demo.share_url
