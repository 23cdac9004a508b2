"""Synthetic crowd photos with faces at known boxes: the test set of face detection and of whole-photo SR.

No labelled photo of small real faces exists offline, so one is made: portraits (faces128-style, the face in
the corpus framing) are scaled so that their faces have given sizes, pasted with a feathered oval edge at
random, non-overlapping places of a synthetic background, and the whole photo is then shot as a cheap camera
would (``low_quality_shot``: blur, sensor noise, JPEG). The known box of each face is the one the Haar detector
gives on the portrait, derived from the calibrated framing (``srnam.faces.detect.framing_from_detection``), so
that detections can be matched to it by overlap.
"""
from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..faces.detect import FRAME_DX, FRAME_DY, FRAME_SIDE
from ..faces.framing import CORPUS_BOX, CORPUS_SIZE, Box, iou
from ..images import jpeg_round_trip

# The face box of a faces128 portrait (CORPUS_SIZE px), from the framing: the crop CORPUS_BOX is FRAME_SIDE face sides.
_CROP_SIDE = CORPUS_BOX[2] - CORPUS_BOX[0]
FACE_SIDE_IN_PORTRAIT = _CROP_SIDE / FRAME_SIDE  # about 87 of the portrait's 128 px
_FACE_CENTRE = ((CORPUS_BOX[0] + CORPUS_BOX[2]) / 2 - FRAME_DX * FACE_SIDE_IN_PORTRAIT,
                (CORPUS_BOX[1] + CORPUS_BOX[3]) / 2 - FRAME_DY * FACE_SIDE_IN_PORTRAIT)


def background(width: int, height: int, rng: random.Random) -> Image.Image:
    """A plausible clutter: a smooth colour field, a few blurred blocks of colour, and fine texture."""
    base = rng.randrange(60, 200)  # muted colours around one grey level, as indoor and street scenes are
    field = np.array([[[min(255, max(0, base + rng.randrange(-60, 61))) for _ in range(3)] for _ in range(4)]
                      for _ in range(3)], np.uint8)
    image = Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(3, 9)):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(20, width // 2), rng.randrange(20, height // 2)
        draw.rectangle((x, y, x + w, y + h), fill=tuple(min(255, max(0, base + rng.randrange(-90, 91)))
                                                        for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1, 4)))
    texture = np.random.default_rng(rng.randrange(2**31)).normal(0, 6, (height, width, 1))
    return Image.fromarray(np.clip(np.asarray(image, np.float32) + texture, 0, 255).astype(np.uint8))


def low_quality_shot(photo: Image.Image, rng: random.Random) -> Image.Image:
    """The crowd photo as a cheap camera takes it: a little blur, sensor noise, JPEG at quality 35–80 (a fixed
    chain, not the camera model: the detector is measured on photos the models never made)."""
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    noise = np.random.default_rng(rng.randrange(2**31)).normal(0, rng.uniform(2, 6), (photo.height, photo.width, 3))
    photo = Image.fromarray(np.clip(np.asarray(photo, np.float32) + noise, 0, 255).astype(np.uint8))
    return jpeg_round_trip(photo, rng.randrange(35, 81))


def crowd_photo(portraits: list[Image.Image], face_sizes: list[int], *, width: int = 640, height: int = 480,
                seed: int = 0, degrade: bool = True) -> tuple[Image.Image, list[Box]]:
    """A photo with ``portraits[i]`` pasted so that its face is ``face_sizes[i]`` pixels wide, and the face
    boxes (x0, y0, x1, y1) in its pixels, in the order given. Faces that find no free place are left out
    (their box is not returned): ask for fewer or smaller faces, or a larger photo."""
    rng = random.Random(seed)
    photo = background(width, height, rng)
    taken: list[Box] = []
    boxes: list[Box] = []
    for portrait, size in zip(portraits, face_sizes):
        scale = size / FACE_SIDE_IN_PORTRAIT
        side = round(CORPUS_SIZE * scale)  # the whole portrait, scaled (FACE_SIDE_IN_PORTRAIT is in its px)
        tile = portrait.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
        for _ in range(200):  # rejection sampling of a free place (with a margin between portraits)
            x, y = rng.randrange(0, max(1, width - side)), rng.randrange(0, max(1, height - side))
            if all(x + side <= a or a2 <= x or y + side <= b or b2 <= y for a, b, a2, b2 in taken):
                break
        else:
            continue
        taken.append((x - 2, y - 2, x + side + 2, y + side + 2))
        photo.paste(tile, (x, y), _oval_mask(side))
        cx, cy = x + _FACE_CENTRE[0] * scale, y + _FACE_CENTRE[1] * scale
        boxes.append((round(cx - size / 2), round(cy - size / 2), round(cx + size / 2), round(cy + size / 2)))
    return (low_quality_shot(photo, rng) if degrade else photo), boxes


def _oval_mask(side: int) -> Image.Image:
    """An oval that fills the square with soft edges: the portrait's own background fades into the photo's."""
    mask = Image.new("L", (side, side), 0)
    inset = max(1, side // 16)
    ImageDraw.Draw(mask).ellipse((inset, inset, side - 1 - inset, side - 1 - inset), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(max(1, side // 20)))


def match(detected: list[Box], truth: list[Box], threshold: float = 0.4) -> list[int | None]:
    """For each true box, the index of the detection it is matched to (greedy by overlap, each detection used
    once, IoU ≥ ``threshold``: Haar boxes vary in size by a tenth or so), or None when it was missed."""
    pairs = sorted(((iou(d, t), i, j) for i, t in enumerate(truth) for j, d in enumerate(detected)), reverse=True)
    matched: list[int | None] = [None] * len(truth)
    used = set()
    for overlap, i, j in pairs:
        if overlap < threshold:
            break
        if matched[i] is None and j not in used:
            matched[i] = j
            used.add(j)
    return matched
