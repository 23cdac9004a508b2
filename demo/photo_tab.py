"""The "Whole photo" tab: every face of a photo, several candidates each, put back into the enlarged photo.

The user uploads a photo; ``srnam.faces.photo.enhance_photo`` finds the faces and searches all of them in one batch.
The page then shows the composed photo, the photo with its faces numbered, and one gallery row per face: its
LR input, its uncertainty map (where the candidates disagree) and its candidates. Clicking a candidate
chooses it for its face, and clicking a face's LR input keeps the photo's own pixels there (for a detection that
is not a face); the composed photo is drawn again (``srnam.faces.photo.compose``, no new search). The
downloads are the composed photo at full size and a zip of every face's images (``srnam.faces.photo.result_images``).

The request's result (a ``PhotoResult``) is kept on the server (``demo/photo_results.py``: a byte budget, least
recently used dropped first) and the page's session state holds its key, so a choice needs no search. API
clients call ``/photo`` (its gallery a list of (image, caption) pairs, as ``view_api()`` documents it) and choose
with ``/photo_choose`` (face and candidate numbers, from 1; candidate 0 keeps the photo's own pixels for that
face), in the same session.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import io
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import AsyncIterator

import gradio as gr
from PIL import Image

from srnam import InvalidImageError, SRNAMPipeline
from srnam.images import open_image
from srnam.faces.photo import (PhotoResult, compose, enhance_photo, largest_scale, result_images, uncertainty_legend)

from .photo_results import EXPIRED, PhotoResults
from .search import Finished, by_component, progress_text, searching
from .serving import (BadRequest, Limits, PhotoRequest, StopSwitches, budget_sliders, parse_photo_request,
                      unusable_file, whole_number)

PHOTOS = Path(__file__).parent / "examples" / "photos"
EXAMPLE = PHOTOS / "crowd.jpg"  # a synthetic crowd: no real people
REAL_EXAMPLE = PHOTOS / "astronaut.jpg"  # a real photo: NASA's portrait of Eileen Collins, public domain
TILE = 128  # gallery tiles: the 16×16 input, the 64×64 map and candidates, enlarged without smoothing
ROLES = ("status", "composed", "faces", "gallery", "downloads", "state")
NOTHING_YET = "**Nothing to choose from yet.** Enhance a photo first."
EXPIRED_TEXT = ("**This photo's result has expired**: the server keeps results for a while, and only the most "
                "recent ones. Press **Enhance every face** to run the photo again.")

HOW_TO_READ = """\
**Reading the faces.** One row per face, numbered as in the photo above (1 is the largest): its 16×16 LR input,
its **uncertainty map** (black where the candidates agree, so the input fixes the face there; red to yellow
where they differ, so the generator invents it; one fixed scale for every face, shown beside), then its
candidates, best LR consistency first. **Click a candidate** to put it into the photo; ✓ marks the chosen ones.
**Click a face's LR input** to leave that face as the photo has it (for a detection that is not a face): its
square turns grey above.
Each face is turned and scaled onto the training faces' eye and nose positions before its search (the squares
above show how), so its LR input and candidates are upright; the chosen candidate goes back turned.
"""


def build_photo_tab(pipe: SRNAMPipeline, limits: Limits, switches: StopSwitches) -> None:
    """The tab's components and events, inside the caller's ``gr.Blocks`` and ``gr.Tab``."""
    # the key of this page's last result in `kept` (a photo is tens of MB: kept under a budget, not per page)
    kept = PhotoResults(limits.kept_bytes, limits.kept_result_bytes, limits.cache_seconds)
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            photo = gr.Image(label="Photo (a group photo, a crowd, a frame)", type="filepath",
                             sources=["upload", "clipboard"], elem_id="srnam-photo-input")
            candidates, steps, seed = budget_sliders(limits, "Candidates per face", "srnam-photo")
            with gr.Accordion("Advanced", open=False):
                scale = gr.Slider(1, limits.max_photo_scale, value=4, step=1, label="Enlargement of the photo")
                lr_mode = gr.Radio([("area: faces as they are in the photo, area-averaged", "area"),
                                    ("degrade: faces of 64 px and more through the camera model", "degrade")],
                                   value="degrade", label="How each face's LR input is made")
            gr.Markdown(f"At most {limits.max_photo_faces} faces, and faces × candidates × steps at most "
                        f"{limits.max_photo_work:,}: the largest faces that fit are searched.")
            with gr.Row():
                run = gr.Button("Enhance every face", variant="primary", elem_id="srnam-photo-run")
                stop = gr.Button("Stop", variant="stop")
            examples = [[str(path)] for path in (REAL_EXAMPLE, EXAMPLE) if path.exists()]
            if examples:
                gr.Examples(examples, inputs=[photo], cache_examples=False, elem_id="srnam-photo-examples",
                            label="Examples: a real photo (NASA, public domain) and a synthetic crowd (no real people)")
        with gr.Column(scale=2):
            status = gr.Markdown("Upload a photo and press **Enhance every face**.", label="status",
                                 show_label=False, elem_id="srnam-photo-status")
            composed = gr.Image(label="The photo with the chosen candidates", format="png", interactive=False,
                                elem_id="srnam-photo-composed")
            faces = gr.Image(label="Faces found (numbered)", format="png", interactive=False,
                             elem_id="srnam-photo-faces")
            with gr.Row():
                gr.Markdown(HOW_TO_READ)
                gr.Image(uncertainty_legend(), label="Uncertainty map scale", format="png", interactive=False,
                         show_label=True, height=90, elem_id="srnam-photo-legend")
            gallery = gr.Gallery(label="Per face: LR input, uncertainty, candidates", columns=6, format="png",
                                 object_fit="contain", height="auto", interactive=False, allow_preview=False,
                                 elem_id="srnam-photo-gallery")
            downloads = gr.File(label="Downloads: the composed photo (full size) and a zip of every face",
                                file_count="multiple", interactive=False, elem_id="srnam-photo-downloads")
    outputs = dict(zip(ROLES, (status, composed, faces, gallery, downloads, state)))

    async def search(image, num_candidates, num_steps, seed_value, scale_value, mode, request: gr.Request,
                     for_page: bool = True):
        try:
            checked = parse_photo_request(limits, image, num_candidates, num_steps, seed_value, scale_value, mode)
        except BadRequest as err:
            yield by_component(outputs, _cleared(f"**Cannot run.** {err}"))
            return
        switch = switches.take(request)
        try:
            async for update in run_photo_search(pipe, checked, limits, switch, kept):
                yield by_component(outputs, _page_update(update) if for_page else update)
        finally:
            switch.set()  # a closed page or cancelled client: the search ends within a step
            switches.release(request, switch)

    async def search_api(image, num_candidates, num_steps, seed_value, scale_value, mode, request: gr.Request):
        async for update in search(image, num_candidates, num_steps, seed_value, scale_value, mode, request,
                                   for_page=False):
            yield update

    async def choose(key: str | None, face, candidate, for_page: bool = True):
        """Put candidate ``candidate`` of face ``face`` (both from 1) into the photo; candidate 0: keep the
        photo's own pixels for that face."""
        result = kept.get(key)
        if result is None or result == EXPIRED:
            yield by_component(outputs, {"status": NOTHING_YET if result is None else EXPIRED_TEXT})
            return
        faces_count = len(result.faces)
        try:
            if not faces_count:
                raise BadRequest("The photo has no faces to choose for.")
            f = whole_number("Face", face, 1, faces_count) - 1
            k = whole_number("Candidate", candidate, 0, len(result.faces[f].output.hr_candidates)) - 1
        except BadRequest as err:
            yield by_component(outputs, {"status": f"**Cannot choose.** {err} (0 keeps the photo's own pixels.)"})
            return
        result.choices[f] = k if k >= 0 else None
        shown = dataclasses.replace(result, composed=await asyncio.to_thread(compose, result))  # not kept
        async with _request_folder() as folder:
            chosen = f"candidate #{k + 1} chosen" if k >= 0 else "the photo's own pixels kept"
            update = {"status": f"Face {f + 1}: {chosen}.",
                      **await asyncio.to_thread(render_photo, shown, folder)}
            yield by_component(outputs, _page_update(update) if for_page else update)

    async def choose_api(key: str | None, face, candidate):
        async for update in choose(key, face, candidate, for_page=False):
            yield update

    async def clicked(key: str | None, event: gr.SelectData):
        result = kept.get(key)
        picked = tile_choice(result, event.index) if isinstance(result, PhotoResult) else None
        if picked is None and isinstance(result, PhotoResult):  # an uncertainty map: nothing to choose
            yield by_component(outputs, {"status": "Click a candidate to put it in, or a face's LR input to keep "
                                                   "the photo's own pixels there (not the uncertainty map)."})
            return
        async for update in choose(key, *(picked or (1, 1))):  # no result: choose() says why
            yield update

    # The page's events are private; API clients get the same through the hidden buttons' endpoints, whose
    # gallery is the plain list view_api() documents (the page's also sets the gallery's column count).
    inputs, all_outputs = [photo, candidates, steps, seed, scale, lr_mode], list(outputs.values())
    ran = run.click(switches.run_clicked, None, None, queue=False, api_visibility="private")
    ran.then(search, inputs, all_outputs, preprocess=False, show_progress="minimal", api_name="photo_page",
             api_visibility="private")
    gr.Button(visible=False).click(search_api, inputs, all_outputs, api_name="photo", preprocess=False)
    stop.click(switches.press, None, None, queue=False, api_visibility="private")
    gallery.select(clicked, [state], all_outputs, api_visibility="private", show_progress="hidden")
    # For API clients (the page clicks the gallery): the same as clicking candidate `candidate` of face `face`.
    face_number, candidate_number = gr.Number(visible=False), gr.Number(visible=False)
    gr.Button(visible=False).click(choose_api, [state, face_number, candidate_number], all_outputs,
                                   api_name="photo_choose")


async def run_photo_search(pipe: SRNAMPipeline, request: PhotoRequest, limits: Limits, stop: threading.Event,
                           kept: PhotoResults) -> AsyncIterator[dict]:
    """Page updates of one whole-photo request: progress, then the result (or a message); the result is kept
    in ``kept`` and the page's state gets its key."""
    if stop.is_set():
        yield _cleared("Stopped before the search started.")
        return
    max_faces = request.max_faces(limits)
    yield _cleared("Finding the faces…")
    try:
        # srnam opens the upload (its checks and conversions, as in the face tab); decoding takes a moment
        image = await asyncio.to_thread(open_image, request.image_path, square=False,
                                        max_pixels=limits.max_photo_pixels)
        scale = largest_scale(image.size, request.scale, limits.max_composed_pixels)
        search = functools.partial(enhance_photo, pipe, image, search=request.search, scale=scale,
                                   max_faces=max_faces, lr_mode=request.lr_mode)
        async for state in searching(search, stop, limits.preview_seconds):
            if isinstance(state, Finished):
                break
            yield {"status": progress_text(state)}
    except InvalidImageError as err:
        yield _cleared(unusable_file(err, request.image_name))
        return
    except ValueError as err:  # e.g. a photo too large to enlarge at all
        yield _cleared(f"**Cannot enhance this photo.** {err}")
        return
    result: PhotoResult = state.result
    key = kept.put(result)
    summary = _summary(result, request, max_faces, scale, state.seconds)
    if key is None:  # not reached at the app's own limits (Limits checks that the largest photo fits)
        summary += " This result is too large to keep: choosing another candidate needs a smaller photo."
    async with _request_folder() as folder:
        yield {"status": summary, **await asyncio.to_thread(render_photo, result, folder), "state": key}


def _summary(result: PhotoResult, request: PhotoRequest, max_faces: int, scale: int, seconds: float) -> str:
    searched = len(result.faces)
    if not result.faces:
        return (f"**No faces found** (faces of {result.smallest_face} px and more were looked for: upright, "
                f"roughly frontal faces). The photo is shown enlarged {scale}×.")
    stopped = any(face.output.stopped_early for face in result.faces)
    asked = request.search
    text = (f"{searched} face{'s' * (searched != 1)} × {asked.num_candidates} candidates × "
            f"{len(result.faces[0].output.loss_history[0])} steps in {seconds:.1f} s, seed {asked.seed}"
            f"{' (stopped early)' if stopped else ''}; the photo enlarged {scale}×.")
    if result.faces_found > searched:
        text += (f" **{result.faces_found} faces were found; the {searched} largest were searched** (at most "
                 f"{max_faces} at {asked.num_candidates} candidates × {asked.num_steps} steps: fewer candidates "
                 f"or steps search more faces).")
    if scale < request.scale:
        text += f" The photo is too large to enlarge {request.scale}×: {scale}× was used."
    return text


def render_photo(result: PhotoResult, folder: Path) -> dict:
    """The composed photo, the numbered faces, the gallery rows and the downloads, as files of ``folder``."""
    composed_path, faces_path, archive = folder / "composed.png", folder / "faces.png", folder / "candidates.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:  # PNGs are compressed already
        for name, image in result_images(result).items():
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            zipped.writestr(name, buffer.getvalue())
            if name in ("composed.png", "faces.png"):  # the page's own copies: the same bytes, encoded once
                (folder / name).write_bytes(buffer.getvalue())
    items = []
    for number, (face, chosen) in enumerate(zip(result.faces, result.choices), 1):
        kept = " · photo kept ✓" if chosen is None else ""
        items.append((_tile(face.lr_input, folder, f"f{number}_lr.png"), f"{number} · LR input{kept}"))
        items.append((_tile(face.uncertainty, folder, f"f{number}_map.png"), f"{number} · uncertainty"))
        for k, (hr, db) in enumerate(zip(face.output.hr_candidates, face.lr_psnr), 1):
            mark = " ✓" if k - 1 == chosen else ""
            items.append((_tile(hr, folder, f"f{number}_c{k}.png"), f"{number} · #{k} · {db:.1f} dB{mark}"))
    return {"composed": str(composed_path), "faces": str(faces_path), "gallery": items,
            "downloads": [str(composed_path), str(archive)]}


def _page_update(update: dict) -> dict:
    """An update for the page: its gallery (when there is one) laid out a row per face, 2 + K tiles wide."""
    items = update.get("gallery")
    if not items:
        return update
    per_face = 2 + sum(caption.startswith("1 · #") for _, caption in items)
    return {**update, "gallery": gr.Gallery(value=items, columns=per_face)}


def tile_choice(result: PhotoResult | None, index: int) -> tuple[int, int] | None:
    """The (face, candidate) numbers, from 1, of gallery tile ``index`` (row by row, as ``render_photo``
    lays them out): candidate 0 for a face's LR input (keep the photo's pixels), None for a map tile."""
    if result is None or not result.faces:
        return None
    per_face = 2 + len(result.faces[0].output.hr_candidates)
    face, tile = divmod(index, per_face)
    if face >= len(result.faces) or tile == 1:
        return None
    return face + 1, 0 if tile == 0 else tile - 1


def _tile(image: Image.Image, folder: Path, name: str) -> str:
    path = folder / name
    image.resize((TILE, TILE), Image.Resampling.NEAREST).save(path)
    return str(path)


def _cleared(status: str) -> dict:
    return {"status": status, "composed": None, "faces": None, "gallery": [], "downloads": None, "state": None}


class _request_folder:
    """A temporary folder for one update's files, removed when the handler resumes after yielding them
    (Gradio has copied them into its cache by then; see demo/search.py)."""

    async def __aenter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="srnam-demo-"))
        return self.path

    async def __aexit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
