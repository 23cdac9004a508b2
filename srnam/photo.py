"""Every face of a photo: find the small faces, search candidates for all of them in one batch, and put the
chosen ones back into an enlarged copy of the photo.

:func:`enhance_photo` does it all and returns a :class:`PhotoResult`: per face its box, LR input, candidates
(best LR consistency first), their LR scores and an uncertainty map; and the composed photo, with every face
replaced by its first candidate. :func:`compose` draws the photo again for other choices, without searching.

Composition. The photo is enlarged ``scale`` times (bicubic). Each face's candidate covers the face's
training-framing square (:func:`srnam.faces.framing_from_detection`, enlarged likewise); its mean colour is
shifted to that of the enlarged photo under it (the search matches a 16×16 image, so the candidate's overall
colour may be a little off), and it is blended in with a feathered oval mask that is zero at the square's
edges, so that no seam or box edge shows. Outside the faces' squares the result is the enlarged photo itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .faces import Box, crop_padded, detect_faces, framing_from_detection
from .images import ImageInput, open_image
from .lr_input import camera_photo
from .metrics import lr_psnr
from .nam import DEFAULT_LEARNING_RATE, SearchState
from .pipeline import SRNAMOutput, SRNAMPipeline

PHOTO_LR_MODES = ("downsample", "degrade")
MAX_SCALE = 8
UNCERTAINTY_FULL_SCALE = 0.1  # the candidates' per-pixel standard deviation (on [0, 1]) shown at full colour
FEATHER = 0.12  # width of the mask's soft edge, as a fraction of the face square's side


@dataclass
class PhotoFace:
    box: Box  # the detected face in the photo's pixels (x0, y0, x1, y1)
    crop_box: Box  # the training-framing square around it: what its candidate replaces
    lr_input: Image.Image  # the 16×16 image the search matched
    output: SRNAMOutput  # its candidates, best LR consistency first
    lr_psnr: list[float]  # each candidate's LR projection against lr_input, dB
    uncertainty: Image.Image = field(repr=False)  # 64×64 heatmap: where the candidates disagree


@dataclass
class PhotoResult:
    photo: Image.Image  # the input photo, RGB
    scale: int
    faces: list[PhotoFace]  # largest first
    faces_found: int  # faces detected; more than len(faces) when max_faces cut the list
    choices: list[int]  # the candidate shown for each face
    composed: Image.Image  # the photo enlarged by scale with the chosen candidates put in


def enhance_photo(pipe: SRNAMPipeline, photo: ImageInput, *, num_candidates: int = 4, num_steps: int = 300,
                  seed: int | None = None, scale: int = 4, min_face: int = 12, max_faces: int = 16,
                  lr_mode: str = "downsample", learning_rate: float = DEFAULT_LEARNING_RATE,
                  callback: Callable[[SearchState], bool | None] | None = None) -> PhotoResult:
    """Find every face of at least ``min_face`` pixels in ``photo`` (the ``max_faces`` largest), search
    ``num_candidates`` candidates for each in one batch, and compose the result (module docstring).

    A face's LR input is its training-framing square, area-downsampled to 16×16 (smaller squares are enlarged,
    bicubic). With ``lr_mode="degrade"``, squares of 64 px or more are taken to be sharp and go through the
    camera model first, as the single-face "degrade" mode does. A photo without faces gives a result with no
    faces whose composed photo is the enlarged input.
    """
    if lr_mode not in PHOTO_LR_MODES:
        raise ValueError(f"lr_mode must be one of {', '.join(PHOTO_LR_MODES)}, got {lr_mode!r}")
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be an integer between 1 and {MAX_SCALE}, got {scale!r}")
    if isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1:
        raise ValueError(f"max_faces must be a positive integer, got {max_faces!r}")
    image = open_image(photo, square=False)
    found = detect_faces(image, min_face)
    boxes = found[:max_faces]
    crop_boxes = [framing_from_detection(box) for box in boxes]
    lr_inputs = [face_lr_input(image, crop, pipe, lr_mode, seed=i) for i, crop in enumerate(crop_boxes)]
    outputs = pipe(lr_inputs, num_candidates=num_candidates, num_steps=num_steps, seed=seed,
                   learning_rate=learning_rate, callback=callback) if boxes else []
    faces = [PhotoFace(box, crop, out.lr_input, out, lr_psnr(out), uncertainty_map(out.hr_candidates))
             for box, crop, out in zip(boxes, crop_boxes, outputs)]
    result = PhotoResult(image, scale, faces, len(found), [0] * len(faces), image)
    result.composed = compose(result, result.choices)
    return result


def face_lr_input(image: Image.Image, crop_box: Box, pipe: SRNAMPipeline, lr_mode: str, seed: int) -> Image.Image:
    """The 16×16 search input of one face: its square of ``image``, reduced by area averaging (or enlarged)."""
    crop = crop_padded(image, crop_box)
    lr_size, hr_size = pipe.degradation.lr_size, pipe.degradation.hr_size
    if lr_mode == "degrade" and crop.width >= hr_size:
        reference = crop.resize((hr_size, hr_size), Image.Resampling.LANCZOS)
        return camera_photo(pipe.degradation, reference, seed)
    smaller = crop.width >= lr_size
    return crop.resize((lr_size, lr_size), Image.Resampling.BOX if smaller else Image.Resampling.BICUBIC)


def compose(result: PhotoResult, choices: Sequence[int] | None = None) -> Image.Image:
    """The photo enlarged by ``result.scale`` with face i replaced by its candidate ``choices[i]`` (default:
    ``result.choices``), blended in as the module docstring says. ``result`` is not changed."""
    choices = list(result.choices if choices is None else choices)
    if len(choices) != len(result.faces):
        raise ValueError(f"compose needs one choice per face: {len(choices)} for {len(result.faces)} faces")
    width, height = result.photo.size
    canvas = np.asarray(result.photo.resize((width * result.scale, height * result.scale),
                                            Image.Resampling.BICUBIC), dtype=np.float32).copy()
    for face, choice in zip(result.faces, choices):
        candidates = face.output.hr_candidates
        if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < len(candidates):
            raise ValueError(f"a face has candidates 0–{len(candidates) - 1}; got choice {choice!r}")
        _paste(canvas, candidates[choice], [v * result.scale for v in face.crop_box])
    return Image.fromarray(np.clip(canvas.round(), 0, 255).astype(np.uint8))


def _paste(canvas: np.ndarray, candidate: Image.Image, box: list[int]) -> None:
    """Blend ``candidate`` into ``canvas`` [H, W, 3] over the square ``box`` (which may leave the canvas)."""
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
    tile, mask = tile[top:bottom, left:right], mask[top:bottom, left:right]
    weight = mask.sum()
    if weight > 0:  # the candidate's mean colour under the mask, moved to the photo's
        tile = tile + ((region - tile) * mask).sum(axis=(0, 1)) / weight
    region[:] = mask * tile + (1 - mask) * region


def feather_mask(side: int) -> Image.Image:
    """An oval over the square: 255 inside, easing to 0 over ``2 · FEATHER`` of the half-side at the oval that
    touches the square's edges, and 0 beyond it (the corners)."""
    centres = (np.arange(side) + 0.5) / (side / 2) - 1  # pixel centres in (-1, 1)
    distance = np.hypot(centres[None, :], centres[:, None]) / (1 - 1 / side)  # 1: the edge pixels' centres
    t = np.clip((1 - distance) / (2 * FEATHER), 0, 1)
    return Image.fromarray((255 * t * t * (3 - 2 * t)).round().astype(np.uint8))  # smoothstep: no visible rim


def uncertainty_map(candidates: Sequence[Image.Image] | torch.Tensor) -> Image.Image:
    """Where the candidates disagree: the per-pixel standard deviation across them (mean over the colour
    channels), as a heatmap from black (all agree: the LR input fixes the face there) through red to yellow
    (``UNCERTAINTY_FULL_SCALE`` or more: the generator invents it). ``candidates``: PIL images or a "pt" tensor
    [K, 3, H, W] in [0, 1]. One candidate has no spread: an all-black map."""
    if isinstance(candidates, torch.Tensor):
        stack = candidates.detach().float().cpu().numpy()
    else:
        stack = np.stack([np.asarray(c.convert("RGB"), np.float32).transpose(2, 0, 1) / 255 for c in candidates])
    spread = np.clip(stack.std(axis=0).mean(axis=0) / UNCERTAINTY_FULL_SCALE, 0, 1)  # [H, W] in [0, 1]
    heat = np.stack([np.clip(3 * spread, 0, 1), np.clip(3 * spread - 1, 0, 1), np.clip(3 * spread - 2, 0, 1)], -1)
    return Image.fromarray((heat * 255).round().astype(np.uint8))
