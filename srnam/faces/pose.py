"""How ``srnam evaluate`` frames its faces: upright or tilted, aligned or not (issue 30).

The generator knows upright, corpus-framed faces only. To measure what alignment (``srnam.faces.alignment``) buys, the
same faces are evaluated both ways:

* **unaligned**: the upright framing square as it is (``--crop``'s box; for real sets, as the set comes);
* **aligned**: that square turned and scaled onto the corpus's landmarks, as the app and ``srnam upscale`` do.

A **pose-varied set** (``--rotate 10,40``) tilts each HR portrait first, by a seeded angle drawn per face name
(a magnitude uniform in the range, either way), about the centre of its framing square; the photo is mirrored at
its edges first, so that no blank corners enter the crop. Its upright truth is known, so each face records how
close its searched crop comes to the upright face's crop (``framing_psnr``): the unaligned crop of a tilted face
keeps the tilt, the aligned one should give the upright face back.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .alignment import Similarity, align_face, aligned_crop
from ..images import pil_to_tensor, psnr, to_unit_range
from ..seeds import image_seed

MAX_ROTATION = 90.0  # degrees; beyond it a face is upside down, which no framing of a portrait corpus expects


@dataclass(frozen=True)
class Pose:
    """``align``: align each face onto the corpus's landmarks. ``rotate``: (smallest, largest) tilt in degrees,
    or None for the faces as they are. ``seed``: the seed of the tilts (with each face's name)."""

    align: bool = False
    rotate: tuple[float, float] | None = None
    seed: int = 0

    def __post_init__(self):
        if self.rotate is not None:
            low, high = self.rotate
            if not 0 <= low <= high <= MAX_ROTATION:
                raise ValueError(f"rotate must be two angles 0 <= smallest <= largest <= {MAX_ROTATION:g} degrees, "
                                 f"got {low:g}, {high:g}")

    @property
    def upright(self) -> bool:
        """The faces as they come: no alignment, no tilt (the evaluation's long-standing default)."""
        return not self.align and self.rotate is None

    def angle(self, name: str) -> float:
        """The tilt of the face named ``name``, in degrees counter-clockwise (0 without ``rotate``)."""
        if self.rotate is None:
            return 0.0
        draw = random.Random(image_seed(self.seed, f"rotate:{name}"))
        magnitude = draw.uniform(*self.rotate)
        return magnitude if draw.random() < 0.5 else -magnitude

    def frame(self, image: Image.Image, box: tuple[float, float, float, float], name: str, size: int = 64, *,
              truth_known: bool = True) -> tuple[Image.Image, dict]:
        """The ``size``×``size`` crop of the face of ``image`` whose upright framing square is ``box``, tilted and
        aligned as this pose says, and its record: the tilt, whether it was aligned, the framing's angle and side
        (px), and, where ``box`` is the face's true framing (``truth_known``: a corpus portrait), the crop's PSNR
        against the upright face's unaligned crop (``framing_psnr``, dB)."""
        upright = Similarity.of_box(box)
        angle = self.angle(name)
        posed = tilted(image, box, angle) if angle else image
        framing = align_face(posed, box) if self.align else upright
        crop = aligned_crop(posed, framing, size)
        record = {"name": name, "angle": round(angle, 3), "aligned": self.align,
                  "framing_angle": round(framing.angle, 3), "framing_side": round(framing.side, 3)}
        if not truth_known:
            return crop, record
        truth = aligned_crop(image, upright, size)
        record["framing_psnr"] = round(float(psnr(to_unit_range(pil_to_tensor(crop)),
                                                  to_unit_range(pil_to_tensor(truth)))), 3)
        return crop, record


def tilted(image: Image.Image, box: tuple[float, float, float, float], angle: float) -> Image.Image:
    """``image`` rotated by ``angle`` degrees (counter-clockwise) about the centre of ``box``, same size; the
    photo is mirrored beyond its edges first, so that the rotation brings in photo-like content, not a fill."""
    rgb = np.asarray(image.convert("RGB"))
    pad = max(image.size)
    mirrored = Image.fromarray(np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric"))
    centre = ((box[0] + box[2]) / 2 + pad, (box[1] + box[3]) / 2 + pad)
    turned = mirrored.rotate(angle, resample=Image.Resampling.BICUBIC, center=centre)
    return turned.crop((pad, pad, pad + image.width, pad + image.height))


def framing_summary(records: list[dict], pose: Pose) -> dict:
    """What ``srnam evaluate`` reports of the framing: the pose, and per face and on average the tilt, the
    residual tilt of the searched square (its angle minus the face's tilt: what alignment left, and the faces' own
    slight tilts), and the crop's PSNR against the upright face's crop where that is known."""
    summary = {"aligned": pose.align, "rotate": None if pose.rotate is None else list(pose.rotate), "faces": records}
    if records:
        summary["mean_abs_angle"] = float(np.mean([abs(r["angle"]) for r in records]))
        if pose.align:
            summary["mean_abs_residual_tilt"] = float(np.mean([abs(r["framing_angle"] - r["angle"]) for r in records]))
        known = [r["framing_psnr"] for r in records if "framing_psnr" in r]
        if known:
            summary["framing_psnr"] = float(np.mean(known))
    return summary
