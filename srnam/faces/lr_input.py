"""Making the 16×16 LR input from what a user uploads. Shared by the app and the CLI.

Modes:

* ``"as-is"``: the upload already is a small, low-quality face; it is only reduced to 16×16 by area
  averaging (centre-cropped to a square first).
* ``"area"``: a photo. Its largest face is found (dlib's HOG detector), turned and scaled onto the
  corpus's landmarks (:mod:`srnam.faces.alignment`) and cut out as a 64×64 reference, then reduced to 16×16 by
  area averaging: a clean, idealised LR image. Without a face, the centre square is used (``face_found=False``).
  Its old name, ``"downsample"``, is still accepted.
* ``"degrade"``: like ``"area"``, but the 64×64 crop is photographed by the camera model (the degradation model)
  with a seeded noise vector: the photo as a realistic low-quality camera would have taken it.

The last two are LR sources of :mod:`srnam.faces.lr_sources`, the one registry of them.
* ``"auto"``: ``"as-is"`` for uploads of at most ``SMALL_SIDE`` pixels, else ``"degrade"``.

Uploads of at most 64 pixels per side are taken to be face crops already (too small for the detector).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from .alignment import Similarity, aligned_crop, largest_face_framing
from .framing import crop_centre
from .lr_sources import lr_source_name, make_lr_images
from ..images import ImageInput, centre_square, lr_tensor, open_image, tensor_to_pil
from ..models import DegradationGenerator

LR_MODES = ("auto", "as-is", "area", "degrade")
SMALL_SIDE = 32


@dataclass
class LRInput:
    lr: Image.Image  # 16×16, what the search will match
    mode: str  # the mode used ("auto" resolved)
    reference: Image.Image | None = None  # the 64×64 face crop the LR image was made from
    face_found: bool | None = None  # None when no detection was attempted
    framing: Similarity | None = None  # the aligned square of the photo that the reference shows (found faces)


def make_lr_input(source: ImageInput, mode: str, degradation: DegradationGenerator, noise_seed: int = 0) -> LRInput:
    mode = lr_source_name(mode, LR_MODES, "lr mode")
    lr_size, hr_size = degradation.lr_size, degradation.hr_size
    if isinstance(source, torch.Tensor):  # tensors are model-ready LR inputs
        return LRInput(tensor_to_pil(lr_tensor(source, lr_size)[0]), "as-is")
    image = open_image(source, square=False)  # the whole photo: the face need not be in its centre
    if mode == "auto":
        mode = "as-is" if max(image.size) <= SMALL_SIDE else "degrade"
    if mode == "as-is":
        return LRInput(tensor_to_pil(lr_tensor(image, lr_size)[0]), mode)
    framing = None
    if max(image.size) <= hr_size:
        reference, found = centre_square(image).resize((hr_size, hr_size), Image.Resampling.LANCZOS), None
    elif (framing := largest_face_framing(image)) is not None:
        reference, found = aligned_crop(image, framing, hr_size), True
    else:
        reference, found = crop_centre(image, hr_size), False
    (lr,) = make_lr_images([reference], mode, degradation, [noise_seed])
    return LRInput(lr, mode, reference, found, framing)
