"""Every face of a photo: find the small faces, search candidates for all of them in one batch, and put the
chosen ones back into an enlarged copy of the photo.

:func:`enhance_photo` does it all and returns a :class:`PhotoResult`: per face its box, LR input, candidates
(best LR consistency first), their LR scores and an uncertainty map; and the composed photo, with every face
replaced by its first candidate. :func:`compose` draws the photo again for other choices, without searching.

Composition. The photo is enlarged ``scale`` times (bicubic). Each face's candidate covers the face's
training-framing square (:func:`srnam.faces.detect.framing_from_detection`, enlarged likewise); its mean colour is
shifted to that of the enlarged photo under it (the search matches a 16×16 image, so the candidate's overall
colour may be a little off), and it is blended in with a feathered oval mask that is zero at the square's
edges, so that no seam or box edge shows. Outside the faces' squares the result is the enlarged photo itself. A
face whose choice is None keeps the enlarged photo's own pixels (for a detection that is not a face, or a face
that should stay as it is).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .alignment import Similarity, align_face, aligned_crop
from ..errors import check_int
from .framing import Box, crop_padded
from .detect import detect_faces, framing_from_detection, smallest_findable_face
from ..grid import candidate_grid
from ..images import ImageInput, lr_psnr, open_image
from .lr_sources import lr_source_name, make_lr_images
from ..search import SearchSettings, SearchState
from ..pipeline import SRNAMOutput, SRNAMPipeline

PHOTO_LR_MODES = ("area", "degrade")  # LR sources (srnam.faces.lr_sources) for a face of a photo
MAX_SCALE = 8
MAX_COMPOSED_PIXELS = 100_000_000  # the enlarged photo (3 bytes a pixel: 300 MB at most)
# The uncertainty map's fixed scale, in the candidates' per-pixel standard deviation (on [0, 1]): black up to
# UNCERTAINTY_BLACK, full colour from UNCERTAINTY_FULL_SCALE. Measured by benchmarks/uncertainty_scale.py (black for
# the quarter of pixels where the candidates agree most, full for the 1% where they differ most).
UNCERTAINTY_BLACK = 0.028  # 7.1 levels of 255: p25 of 24 dev faces and the crowd, 4 × 300, the style student (0.0283)
UNCERTAINTY_FULL_SCALE = 0.135  # 34.4 levels: their p99 (0.1350); the ProGAN's were 0.025 and 0.14
LABEL_COLOUR = (255, 220, 0)  # the face squares and numbers of ``annotated``
KEPT_COLOUR = (170, 170, 170)  # ``annotated``'s square of a face that keeps the photo's own pixels
FEATHER = 0.12  # width of the mask's soft edge, as a fraction of the face square's side


@dataclass
class PhotoFace:
    box: Box  # the detected face in the photo's pixels (x0, y0, x1, y1)
    crop_box: Box  # the training-framing square around it: what its candidate replaces
    lr_input: Image.Image  # the 16×16 image the search matched
    output: SRNAMOutput  # its candidates, best LR consistency first
    lr_psnr: list[float]  # each candidate's LR projection against lr_input, dB
    uncertainty: Image.Image = field(repr=False)  # 64×64 heatmap: where the candidates disagree
    # The square that was searched, in the photo's pixels: crop_box itself, or (aligned) that face turned and
    # scaled onto the corpus's landmarks (srnam.faces.alignment); its candidate goes back through the same transform.
    framing: Similarity | None = None

    @property
    def aligned(self) -> bool:
        return self.framing is not None

    @property
    def searched_square(self) -> Similarity:
        """The square that was searched, as a framing (turned when aligned, else ``crop_box``)."""
        return self.framing if self.framing is not None else Similarity.of_box(self.crop_box)


@dataclass
class PhotoResult:
    photo: Image.Image  # the input photo, RGB
    scale: int
    faces: list[PhotoFace]  # largest first
    faces_found: int  # faces detected; more than len(faces) when max_faces cut the list
    smallest_face: int  # the smallest face (px) that could be looked for in this photo (faces.smallest_findable_face)
    choices: list[int | None]  # the candidate shown for each face; None: the photo's own pixels kept there
    composed: Image.Image  # the photo enlarged by scale with the chosen candidates put in
    min_face: int = 12  # the smallest face asked for (``enhance_photo``'s min_face); smallest_face may be larger

    def limits_applied(self) -> list[str]:
        """What the search left out, in sentences for a report: faces beyond ``max_faces``, and faces smaller
        than ``smallest_face`` when the photo's size raised it above ``min_face``. Empty when nothing was."""
        notes = []
        if self.faces_found > len(self.faces):
            notes.append(f"{self.faces_found} faces were found; the {len(self.faces)} largest were searched")
        if self.smallest_face > self.min_face:
            notes.append(f"faces under {self.smallest_face} px cannot be found in a photo this large (the smallest "
                         f"asked for was {self.min_face} px)")
        return notes


def enhance_photo(pipe: SRNAMPipeline, photo: ImageInput, *, search: SearchSettings = SearchSettings(),
                  scale: int = 4, min_face: int = 12, max_faces: int = 16, lr_mode: str = "area",
                  align: bool = True, callback: Callable[[SearchState], bool | None] | None = None) -> PhotoResult:
    """Find every face of at least ``min_face`` pixels in ``photo`` (the ``max_faces`` largest), search
    ``search.num_candidates`` candidates for each in one batch, and compose the result (module docstring).

    With ``align`` (the default), each face is first turned and scaled onto the corpus's landmarks
    (:func:`srnam.faces.alignment.align_face`: a tilted face searched upright) and its candidate goes back through the
    inverse transform; ``align=False`` searches the upright training-framing square as detected.

    A face's LR input is its training-framing square, area-downsampled to 16×16 (smaller squares are enlarged,
    bicubic). With ``lr_mode="degrade"``, squares of 64 px or more are taken to be sharp and go through the
    camera model first, as the single-face "degrade" mode does. A photo without faces gives a result with no
    faces whose composed photo is the enlarged input.
    """
    search = search.checked()  # as the pipeline checks them, before any work (and one seed for every face)
    lr_mode = lr_source_name(lr_mode, PHOTO_LR_MODES, "lr_mode")
    if not isinstance(align, bool):
        raise ValueError(f"align must be True or False, got {align!r}")
    check_int("scale", scale, 1, MAX_SCALE)
    check_int("max_faces", max_faces, 1)
    check_int("min_face", min_face, 1)
    image = open_image(photo, square=False)
    check_scale(image.size, scale)
    found = detect_faces(image, min_face)
    boxes = found[:max_faces]
    crop_boxes = [framing_from_detection(box) for box in boxes]
    framings = [align_face(image, crop) if align else None for crop in crop_boxes]
    lr_inputs = [face_lr_input(image, framing or crop, pipe, lr_mode, seed=i)
                 for i, (crop, framing) in enumerate(zip(crop_boxes, framings))]
    outputs = pipe.run(lr_inputs, search, callback) if boxes else []
    faces = [PhotoFace(box, crop, out.lr_input, out, lr_psnr(out), uncertainty_map(out.hr_candidates), framing)
             for box, crop, out, framing in zip(boxes, crop_boxes, outputs, framings)]
    result = PhotoResult(image, scale, faces, faces_found=len(found),
                         smallest_face=smallest_findable_face(image.size, min_face), choices=[0] * len(faces),
                         composed=image, min_face=min_face)
    result.composed = compose(result, result.choices)
    return result


def check_scale(size: tuple[int, int], scale: int) -> None:
    """Refuse a ``scale`` that would make the composed photo larger than ``MAX_COMPOSED_PIXELS``."""
    width, height = size[0] * scale, size[1] * scale
    if width * height > MAX_COMPOSED_PIXELS:
        raise ValueError(f"the {size[0]}×{size[1]} photo enlarged {scale}× would be {width}×{height} pixels, more "
                         f"than the {MAX_COMPOSED_PIXELS / 1e6:.0f} MP allowed: use a smaller scale")


def largest_scale(size: tuple[int, int], scale: int, max_pixels: int = MAX_COMPOSED_PIXELS) -> int:
    """``scale``, or the largest smaller one that keeps the composed photo within ``max_pixels``."""
    while scale > 1 and size[0] * size[1] * scale * scale > max_pixels:
        scale -= 1
    return scale


def face_lr_input(image: Image.Image, square: Box | Similarity, pipe: SRNAMPipeline, lr_mode: str,
                  seed: int) -> Image.Image:
    """The 16×16 search input of one face: its square of ``image`` (an upright box, or an aligned framing),
    reduced by area averaging (or enlarged)."""
    if isinstance(square, Similarity):
        crop = aligned_crop(image, square, max(1, round(square.side)))
    else:
        crop = crop_padded(image, square)
    # Only a crop that is sharp at the models' 64×64 can be photographed; smaller ones are LR already.
    source = "degrade" if lr_mode == "degrade" and crop.width >= pipe.degradation.hr_size else "area"
    return make_lr_images([crop], source, pipe.degradation, [seed])[0]


def compose(result: PhotoResult, choices: Sequence[int | None] | None = None) -> Image.Image:
    """The photo enlarged by ``result.scale`` with face i replaced by its candidate ``choices[i]`` (default:
    ``result.choices``), blended in as the module docstring says; a choice of None leaves that face as the
    enlarged photo has it. ``result`` is not changed."""
    choices = list(result.choices if choices is None else choices)
    if len(choices) != len(result.faces):
        raise ValueError(f"compose needs one choice per face: {len(choices)} for {len(result.faces)} faces")
    for face, choice in zip(result.faces, choices):
        count = len(face.output.hr_candidates)
        if choice is not None and (isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < count):
            raise ValueError(f"a face has candidates 0–{count - 1} (or None: keep the photo); got choice {choice!r}")
    width, height = result.photo.size
    # uint8 (a large photo enlarged 4× is tens of MP); each face's square is blended in float
    canvas = np.array(result.photo.resize((width * result.scale, height * result.scale), Image.Resampling.BICUBIC))
    for face, choice in zip(result.faces, choices):
        if choice is None:
            continue
        if face.framing is None:
            _paste(canvas, face.output.hr_candidates[choice], [v * result.scale for v in face.crop_box])
        else:
            _paste_framed(canvas, face.output.hr_candidates[choice], face.framing.scaled(result.scale))
    return Image.fromarray(canvas)


def _paste_framed(canvas: np.ndarray, candidate: Image.Image, framing: Similarity) -> None:
    """``_paste`` for a turned square: the candidate and the feathered oval go back through ``framing``."""
    corners = framing.corners()
    x0, y0 = (max(0, math.floor(v)) for v in corners.min(axis=0))
    x1, y1 = min(canvas.shape[1], math.ceil(corners[:, 0].max())), min(canvas.shape[0], math.ceil(corners[:, 1].max()))
    if x1 <= x0 or y1 <= y0:
        return
    # the canvas pixels' centres in the square's unit coordinates, and the candidate warped onto them
    inverse = np.linalg.inv(framing.matrix)
    side = candidate.width
    a = inverse * side  # canvas (continuous, from the region's corner) → candidate pixels
    c = (np.array([x0, y0], float) - framing.offset) @ inverse.T * side
    tile = np.asarray(candidate.convert("RGB").transform((x1 - x0, y1 - y0), Image.Transform.AFFINE,
                                                         (a[0, 0], a[0, 1], c[0], a[1, 0], a[1, 1], c[1]),
                                                         Image.Resampling.BICUBIC), dtype=np.float32)
    ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5
    unit = framing.to_unit(np.stack([xs.ravel(), ys.ravel()], axis=1)).reshape(y1 - y0, x1 - x0, 2)
    mask = _feather(np.hypot(*(2 * unit - 1).transpose(2, 0, 1)))[..., None]  # [h, w, 1]; 0 outside the oval
    region = canvas[y0:y1, x0:x1]
    photo = region.astype(np.float32)
    weight = mask.sum()
    if weight > 0:  # the candidate's mean colour under the mask, moved to the photo's
        tile = tile + ((photo - tile) * mask).sum(axis=(0, 1)) / weight
    region[:] = np.clip(mask * tile + (1 - mask) * photo, 0, 255).round().astype(np.uint8)


def _paste(canvas: np.ndarray, candidate: Image.Image, box: list[int]) -> None:
    """Blend ``candidate`` into ``canvas`` [H, W, 3] (uint8) over the square ``box`` (which may leave it)."""
    x0, y0, x1, y1 = box
    side = x1 - x0
    tile = np.asarray(candidate.convert("RGB").resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    mask = np.asarray(feather_mask(side), dtype=np.float32)[..., None] / 255  # [side, side, 1]
    # the part of the square inside the canvas
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = side - max(0, x1 - canvas.shape[1]), side - max(0, y1 - canvas.shape[0])
    if right <= left or bottom <= top:
        return
    region = canvas[y0 + top:y0 + bottom, x0 + left:x0 + right]
    photo = region.astype(np.float32)
    tile, mask = tile[top:bottom, left:right], mask[top:bottom, left:right]
    weight = mask.sum()
    if weight > 0:  # the candidate's mean colour under the mask, moved to the photo's
        tile = tile + ((photo - tile) * mask).sum(axis=(0, 1)) / weight
    region[:] = np.clip(mask * tile + (1 - mask) * photo, 0, 255).round().astype(np.uint8)


def feather_mask(side: int) -> Image.Image:
    """An oval over the square: 255 inside, easing to 0 over ``2 · FEATHER`` of the half-side at the oval that
    touches the square's edges, and 0 beyond it (the corners)."""
    centres = (np.arange(side) + 0.5) / (side / 2) - 1  # pixel centres in (-1, 1)
    distance = np.hypot(centres[None, :], centres[:, None]) / (1 - 1 / side)  # 1: the edge pixels' centres
    return Image.fromarray((255 * _feather(distance)).round().astype(np.uint8))


def _feather(distance: np.ndarray) -> np.ndarray:
    """The mask's weight (0..1) at ``distance`` from the square's centre (1: the inscribed circle)."""
    t = np.clip((1 - distance) / (2 * FEATHER), 0, 1)
    return t * t * (3 - 2 * t)  # smoothstep: no visible rim


def candidate_spread(candidates: Sequence[Image.Image] | torch.Tensor) -> np.ndarray:
    """The per-pixel standard deviation of the candidates (mean over the colour channels, on [0, 1]), [H, W].
    ``candidates``: PIL images or a "pt" tensor [K, 3, H, W] in [0, 1]."""
    if isinstance(candidates, torch.Tensor):
        stack = candidates.detach().float().cpu().numpy()
    else:
        stack = np.stack([np.asarray(c.convert("RGB"), np.float32).transpose(2, 0, 1) / 255 for c in candidates])
    return stack.std(axis=0).mean(axis=0)


def uncertainty_map(candidates: Sequence[Image.Image] | torch.Tensor) -> Image.Image:
    """Where the candidates disagree (:func:`candidate_spread`), as a heatmap: black up to ``UNCERTAINTY_BLACK``
    (they agree: the LR input fixes the face there), then through red to yellow at ``UNCERTAINTY_FULL_SCALE``
    and more (the generator invents it). One candidate has no spread: an all-black map."""
    return _heat((candidate_spread(candidates) - UNCERTAINTY_BLACK) / (UNCERTAINTY_FULL_SCALE - UNCERTAINTY_BLACK))


def uncertainty_legend(width: int = 256) -> Image.Image:
    """The map's colour bar with its numbers: the candidates' standard deviation in 8-bit levels."""
    bar_height, pad = 14, 2
    spread = np.linspace(0, UNCERTAINTY_FULL_SCALE * 1.1, width)
    ramp = np.asarray(_heat((spread[None] - UNCERTAINTY_BLACK) / (UNCERTAINTY_FULL_SCALE - UNCERTAINTY_BLACK)))
    legend = Image.new("RGB", (width, bar_height + 30), (255, 255, 255))
    legend.paste(Image.fromarray(np.repeat(ramp, bar_height, axis=0)), (0, 0))
    draw = ImageDraw.Draw(legend)
    for value in (UNCERTAINTY_BLACK, UNCERTAINTY_FULL_SCALE):
        x = round(value / spread[-1] * (width - 1))
        anchor = "lt" if x < 10 else "rt" if x > width - 10 else "mt"  # a label at an end stays inside
        draw.line((x, bar_height, x, bar_height + 3), fill=(0, 0, 0))
        draw.text((x, bar_height + pad + 2), f"{value * 255:.0f}", fill=(0, 0, 0), anchor=anchor)
    draw.text((0, bar_height + 16), "std of the candidates, in 8-bit levels", fill=(0, 0, 0))
    return legend


def _heat(level: np.ndarray) -> Image.Image:
    """Levels (0: black, 1 and more: yellow) → a black–red–yellow image."""
    level = np.clip(level, 0, 1)
    heat = np.stack([np.clip(2 * level, 0, 1), np.clip(2 * level - 1, 0, 1), np.zeros_like(level)], -1)
    return Image.fromarray((heat * 255).round().astype(np.uint8))


def annotated(result: PhotoResult) -> Image.Image:
    """The input photo with each face's training-framing square drawn and numbered (1: the largest), as the
    faces are numbered in the app and the output folders; yellow where a candidate goes in, grey where the
    photo's own pixels are kept (a choice of None)."""
    photo = result.photo.copy()
    draw = ImageDraw.Draw(photo)
    width = max(1, round(max(photo.size) / 400))
    for number, (face, choice) in enumerate(zip(result.faces, result.choices), 1):
        colour = LABEL_COLOUR if choice is not None else KEPT_COLOUR
        x0, y0, x1, y1 = face.crop_box
        if face.framing is None:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=width)
        else:  # the turned square that was searched
            corners = [tuple(point) for point in face.framing.corners()]
            draw.line(corners + corners[:1], fill=colour, width=width, joint="curve")
        # with a black outline, legible on any background; a third of the square high, 10 px at least
        size = max(10, (x1 - x0) // 3)
        draw.text((x0 + width + 1, y0 + width), str(number), fill=colour, font=ImageFont.load_default(size),
                  stroke_width=max(1, size // 8), stroke_fill=(0, 0, 0))
    return photo


def result_images(result: PhotoResult, choices: Sequence[int | None] | None = None) -> dict[str, Image.Image]:
    """Every image of a result by file name, as ``srnam upscale --all-faces`` writes them and the app zips them:
    ``composed.png`` (for ``choices``; by default ``result.composed``, the photo for ``result.choices``, which is
    composed again only where a caller dropped it), ``faces.png`` (:func:`annotated`), and per face ``face_NN/``:
    ``lr_input.png``, ``uncertainty.png``, ``grid.png``, ``candidate_KK.png`` and ``projection_KK.png`` (best LR
    consistency first, as in the single-face folders)."""
    # composing a photo enlarged 4× (tens of MP) costs seconds: the result's own is reused, not drawn again
    composed = result.composed if choices is None and result.composed is not None else compose(result, choices)
    images = {"composed.png": composed, "faces.png": annotated(result)}
    for number, face in enumerate(result.faces, 1):
        out = face.output
        folder = face_folder(number)
        images[f"{folder}/lr_input.png"] = out.lr_input
        images[f"{folder}/uncertainty.png"] = face.uncertainty
        images[f"{folder}/grid.png"] = candidate_grid(out.hr_candidates, out.lr_projections, out.lr_input, out.lr_l1)
        for k, (hr, projection) in enumerate(zip(out.hr_candidates, out.lr_projections), 1):
            names = candidate_files(k, folder)
            images[names["hr"]], images[names["lr_projection"]] = hr, projection
    return images


def candidate_files(k: int, folder: str = "") -> dict[str, str]:
    """The file names of candidate ``k`` (from 1) and of its LR projection, in ``folder``: the names every
    output folder uses (``srnam upscale``, with and without ``--all-faces``, and the app's zip)."""
    prefix = f"{folder}/" if folder else ""
    return {"hr": f"{prefix}candidate_{k:02d}.png", "lr_projection": f"{prefix}projection_{k:02d}.png"}


def face_folder(number: int) -> str:
    """The folder name of face ``number`` (1: the largest) in the outputs."""
    return f"face_{number:02d}"
