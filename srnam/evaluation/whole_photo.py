"""Realism of the faces SR-NAM puts into whole photos, against bicubic, on crowds with a known truth.

The single-face evaluation (``run.py``) feeds the search LR inputs made from framed portraits. In a whole photo the
search sees what ``enhance_photo`` makes of a face a few tens of pixels wide: a detected box, an aligned square,
its pixels reduced to 16×16. This module measures that path end to end on synthetic crowds
(``synthetic_crowd.crowd_photo``: corpus portraits pasted at known boxes, shot by a cheap camera):

* SR-NAM: the 64×64 candidates ``enhance_photo`` found for each face (they are framed as the corpus is: the
  search square was aligned to the corpus's landmarks);
* SR-NAM as pasted: that square of the composed photo (4×) with the candidate put in, as the user sees it: its
  mean colour moved to the photo's and blended in with the feathered oval (``compose``);
* bicubic: the same searched square of the photo, enlarged to 64×64 bicubically from the photo's own pixels
  (what a plain enlargement of the photo shows there);
* truth: the portrait the face was made from, in the corpus framing: its realism figure is the floor at this
  set size (Fréchet distances are biased upwards for small sets).

Only faces that the detector found (matched to a true box) are scored; the rest are counted as missed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import metrics
from .synthetic_crowd import crowd_photo, match
from ..faces.alignment import aligned_crop
from ..faces.framing import crop_corpus
from ..faces.photo import compose, enhance_photo
from ..images import stack_pil, to_unit_range
from ..pipeline import SRNAMPipeline
from ..search import SearchSettings


@dataclass
class CrowdFaces:
    """The scored faces of some crowds, as 64×64 images in [-1, 1]."""

    truth: torch.Tensor  # [N, 3, 64, 64]: the portraits, corpus-framed
    bicubic: torch.Tensor  # [N, 3, 64, 64]: each searched square of the photo, enlarged bicubically
    srnam: torch.Tensor  # [N, K, 3, 64, 64]: the candidates, best LR consistency first
    pasted: torch.Tensor  # [N, K, 3, 64, 64]: the same square of the composed photo with candidate k put in
    sizes: list[int]  # each face's true width in the photo, px
    placed: int  # faces pasted into the photos (the scored ones are those the detector found)


def crowd_faces(pipe: SRNAMPipeline, portraits: list[Path], *, photos: int, faces_per_photo: int,
                face_sizes: tuple[int, int], search: SearchSettings, width: int = 400, height: int = 300,
                first_seed: int = 0) -> CrowdFaces:
    """Make ``photos`` crowds of ``faces_per_photo`` portraits each (taken in turn from ``portraits``, face widths
    drawn uniformly from ``face_sizes``, inclusive), run ``enhance_photo`` on each (the search's seed: the photo's),
    and collect the matched faces' truth, bicubic square and candidates."""
    if len(portraits) < photos * faces_per_photo:
        raise ValueError(f"{photos} photos of {faces_per_photo} faces need {photos * faces_per_photo} portraits, "
                         f"got {len(portraits)}")
    low, high = face_sizes
    truth, bicubic, candidates, pasted, sizes = [], [], [], [], []
    for p in range(photos):
        seed = first_seed + p
        rng = random.Random(seed)
        chosen = [Image.open(path).convert("RGB")
                  for path in portraits[p * faces_per_photo:(p + 1) * faces_per_photo]]
        wanted = [rng.randint(low, high) for _ in chosen]
        photo, boxes = crowd_photo(chosen, wanted, width=width, height=height, seed=seed)
        if len(boxes) != len(chosen):  # then the boxes would no longer say which portrait is which
            raise ValueError(f"only {len(boxes)} of {len(chosen)} faces found a place in a {width}×{height} photo: "
                             f"ask for fewer or smaller faces, or a larger photo")
        result = enhance_photo(pipe, photo, search=replace(search, seed=seed))
        composed = [compose(result, [k] * len(result.faces)) for k in range(search.num_candidates)]
        for portrait, size, found in zip(chosen, wanted, match([f.box for f in result.faces], boxes)):
            if found is None:
                continue
            face = result.faces[found]
            square = face.searched_square
            truth.append(crop_corpus(portrait, 64))
            bicubic.append(aligned_crop(photo, square, 64))
            candidates.append(stack_pil(face.output.hr_candidates))
            enlarged = square.scaled(result.scale)
            pasted.append(stack_pil([aligned_crop(photo_k, enlarged, 64) for photo_k in composed]))
            sizes.append(size)
    if not truth:
        raise ValueError("the detector found none of the crowds' faces: nothing to score")
    return CrowdFaces(stack_pil(truth), stack_pil(bicubic), torch.stack(candidates), torch.stack(pasted), sizes,
                      photos * faces_per_photo)


def crowd_realism(faces: CrowdFaces, reference: np.ndarray, analyser) -> dict:
    """Face FD (to the ``reference`` descriptors [R, 128]), sharpness (against the truth) and face-ness of the
    truth, bicubic and SR-NAM, its candidates and as pasted (each: the first-ranked candidate, and the mean over k
    of the set of every face's k-th candidate: sets of one image per face, the truth's set size, so the figures
    compare)."""
    truth = to_unit_range(faces.truth)

    def scores(images: torch.Tensor) -> dict:
        unit = to_unit_range(images)
        return {"face_fd": round(metrics.frechet_distance(analyser.descriptors(unit), reference), 4),
                "sharpness": round(metrics.sharpness(unit, truth), 3),
                "faceness": round(metrics.face_detection_rate(images), 3)}

    figures = {"faces": len(faces.truth), "placed": faces.placed, "sizes": [min(faces.sizes), max(faces.sizes)],
               "truth": scores(faces.truth), "bicubic": scores(faces.bicubic)}
    for name, images in (("srnam", faces.srnam), ("pasted", faces.pasted)):
        per_k = [scores(images[:, k]) for k in range(images.shape[1])]
        figures[f"{name}_first"] = per_k[0]
        figures[f"{name}_mean_of_k"] = {key: round(float(np.mean([s[key] for s in per_k])), 4) for key in per_k[0]}
    return figures
