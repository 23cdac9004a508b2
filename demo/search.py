"""One request's latent search, streamed to the page as it runs.

``run_search`` is an async generator of page updates: dicts from an output's role ("status", "grid", ...)
to its new value; roles a dict leaves out keep their value. The search itself runs in a worker thread
(it takes seconds to minutes); this generator wakes up every ``Limits.preview_seconds``, turns the
newest ``SearchState`` into a progress bar and an intermediate grid, and finally yields the result.

The progress bar is an HTML ``<progress>`` in the status text rather than ``gr.Progress``: Gradio 6 draws
its own bar only on outputs that have not changed yet during the event, and here every output changes.

Stopping: the pipeline's callback returns True once ``stop`` is set, and the search returns the candidates
reached so far, which are shown like a finished result. ``stop`` is set by the Stop button (see
``serving.StopSwitches``) or by this generator's ``finally`` when Gradio closes it early (the page was
closed, an API client cancelled), so the worker thread never outlives its request by more than one step.
"""
from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from PIL import Image

from srnam import InvalidImageError, SearchState, SRNAMOutput, SRNAMPipeline
from srnam.grid import candidate_grid
from srnam.faces.lr_input import LRInput, make_lr_input
from srnam.images import lr_psnr
from srnam.faces.photo import candidate_files

from .serving import Limits, SearchRequest, unusable_file

DISPLAY = 256  # faces and LR images are shown this large, enlarged without smoothing: pixels stay visible


async def run_search(pipe: SRNAMPipeline, request: SearchRequest, limits: Limits,
                     stop: threading.Event) -> AsyncIterator[dict]:
    try:
        # Decoding a large photo and detecting its face takes a moment: off the event loop.
        lr = await asyncio.to_thread(make_lr_input, request.image_path, request.lr_mode, pipe.degradation,
                                     request.noise_seed)
    except InvalidImageError as err:
        yield cleared(unusable_file(err, request.image_name))
        return
    notes = _input_notes(lr)

    def status(text: str) -> str:
        return " ".join([text, *notes])

    # Every image goes to the page as a PNG file of this request's folder, never as a PIL image: Gradio copies
    # files into its cache atomically, but rewrites a PIL image's cached file in place, so two requests with
    # identical images (the same photo, the same seed) could truncate it while a browser downloads it.
    folder = Path(tempfile.mkdtemp(prefix="srnam-demo-"))
    try:
        shown_input = {"reference": _shown(lr.reference, folder, "reference.png"),
                       "lr_input": _shown(lr.lr, folder, "lr_input.png")}
        if stop.is_set():  # Stop was pressed while this request waited in the queue
            yield {**cleared("Stopped before the search started."), **shown_input}
            return
        yield {**cleared(status("Searching…")), **shown_input}
        async for update in _search(pipe, request, limits, stop, lr, status, folder):
            yield {**update, **shown_input} if "downloads" in update else update
    finally:
        # Runs when the generator ends, fails or is cancelled. Gradio has copied the files of the last
        # update into its own cache before it resumes the generator, so ours can go.
        stop.set()
        shutil.rmtree(folder, ignore_errors=True)


async def _search(pipe: SRNAMPipeline, request: SearchRequest, limits: Limits, stop: threading.Event,
                  lr: LRInput, status, folder: Path) -> AsyncIterator[dict]:
    """The search itself: previews about every ``limits.preview_seconds``, then the final page."""
    def run(callback):
        return pipe.run([lr.lr], request.search, callback)[0]

    async for state in searching(run, stop, limits.preview_seconds):
        if isinstance(state, Finished):
            break
        # the candidates in their search order (not sorted), so that each stays in its column
        preview = candidate_grid(state.hr[0], state.lr[0], lr.lr, state.l1[0].tolist(), reference=lr.reference,
                                 search_order=True)
        yield {"status": status(progress_text(state)), "grid": _shown(preview, folder, "preview.png", enlarge=False)}
    output: SRNAMOutput = state.result
    seconds = state.seconds
    steps = len(output.loss_history[0])
    asked = request.search
    summary = f"Stopped after {steps} of {asked.num_steps} steps" if output.stopped_early else \
        f"{asked.num_candidates} candidates × {asked.num_steps} steps"
    # complete (with the input images, added by the caller), for API clients that read only the last update
    yield {"status": status(f"{summary} in {seconds:.1f} s, seed {output.seed}, LR input: {lr.mode}."),
           **render(output, lr, folder)}


@dataclass
class Finished:
    """The last item of :func:`searching`: what the search returned, and how long it took."""

    result: Any
    seconds: float


async def searching(search: Callable[..., Any], stop: threading.Event,
                    every: float) -> AsyncIterator[SearchState | Finished]:
    """Run ``search(callback=...)`` in a worker thread; yield its newest ``SearchState`` about every ``every``
    seconds (skipping the states there was no time for), then ``Finished``. The callback ends the search once
    ``stop`` is set."""
    latest: list[SearchState] = []  # at most one: the newest state

    def callback(state: SearchState) -> bool:
        latest[:] = [state]
        return stop.is_set()

    started = time.perf_counter()
    task = asyncio.ensure_future(asyncio.to_thread(search, callback=callback))
    while True:
        done, _ = await asyncio.wait({task}, timeout=every)
        if done:
            break
        if latest:
            yield latest.pop()
    yield Finished(task.result(), time.perf_counter() - started)


def progress_text(state: SearchState) -> str:
    return (f"Searching: step {state.step} of {state.num_steps} "
            f'<progress value="{state.step}" max="{state.num_steps}"></progress> '
            f"best LR L1 so far {state.l1.min():.3f}.")


def by_component(outputs: dict, update: dict) -> dict:
    """A page update by role (as the functions here yield them) → by component (as Gradio takes it)."""
    return {outputs[role]: value for role, value in update.items()}


def cleared(status: str) -> dict:
    """An update that shows ``status`` and empties every result of a previous request."""
    return {"status": status, "reference": None, "lr_input": None, "grid": None, "gallery": [],
            "scores": None, "downloads": None}


def render(output: SRNAMOutput, lr: LRInput, folder: Path) -> dict:
    """The final page: the comparison grid, the candidates with their scores, and the PNG downloads."""
    grid = candidate_grid(output.hr_candidates, output.lr_projections, output.lr_input, output.lr_l1,
                          reference=lr.reference)
    files = [folder / "grid.png"]
    grid.save(files[0])
    gallery, scores = [], []
    for k, (hr, l1, db) in enumerate(zip(output.hr_candidates, output.lr_l1, lr_psnr(output)), 1):
        # short enough for the gallery's caption line at 4 columns; the scores table has the L1 too
        gallery.append((_shown(hr, folder, f"shown_{k:02d}.png"), f"#{k} · {db:.1f} dB"))
        scores.append([k, round(l1, 4), round(db, 2)])
        files.append(folder / candidate_files(k)["hr"])
        hr.save(files[-1])  # the candidate itself, 64×64
    return {"grid": str(files[0]), "gallery": gallery, "scores": scores, "downloads": [str(f) for f in files]}


def _input_notes(lr: LRInput) -> list[str]:
    if lr.face_found is False:
        return ["**No face found** in the photo: the centre square was used instead, so the framing may not "
                "match the faces the models know. A tighter, upright, frontal crop works better."]
    if lr.framing is not None:
        tilt = abs(lr.framing.angle)
        turned = f"turned upright (it is tilted {tilt:.0f}° in the photo)" if tilt >= 1 else "level already"
        return [f"Face found and aligned onto the framing the models know: {turned}; the face crop is what was "
                "searched."]
    return []


def _shown(image: Image.Image | None, folder: Path, name: str, enlarge: bool = True) -> str | None:
    """``image`` as a PNG in ``folder`` (enlarged to ``DISPLAY`` without smoothing): the path, for the page."""
    if image is None:
        return None
    if enlarge:
        image = image.resize((DISPLAY, DISPLAY), Image.Resampling.NEAREST)
    path = folder / name
    image.save(path)
    return str(path)
