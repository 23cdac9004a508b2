"""Measure SR-NAM on HR faces, against the ground truth and baselines (``srnam evaluate``, ``train/``).

Every HR face is framed (``--crop corpus``: the training framing of faces128-style portraits; ``centre``:
the images already are face crops) and resized to 64×64. Its 16×16 LR input is made by ``--lr-source``, one of
the named sources of ``srnam.faces.lr_sources`` (``degrade``: the pipeline's camera model with a seeded noise
vector; ``synthetic``: the training data's LR synthesiser; ``bicubic``; ``area``), seeded per face name.

The LR input is rounded to 8 bits, as a real LR image is. The search then finds K candidates per face, for
several faces at once. Per face, and averaged over the faces (``srnam.evaluation.metrics`` defines each figure):

* LR consistency: L1 (on the [-1, 1] scale, the value the search minimises) and PSNR of each candidate's
  projection D(G(z), n) against the LR input. The ground truth's own figure is its baseline: the true face
  projected as a candidate is, D(x, n') with noise vectors of its own (one per candidate; the input's noise is
  unknown to the search). It is what a search that found the true face would score. Candidates that fit the
  input far better fit its noise draw, which a blurred mean face does more easily than a sharp real one;
* HR fidelity against the ground truth: PSNR and SSIM;
* diversity: the mean pairwise L1 between the candidates;
* sharpness: the candidates' mean squared Laplacian (fine detail) divided by the ground truth's: 1 is the
  detail of real faces, below 1 blur (the mean face), above 1 noise;
* realism (with ``--reference`` and the ``metrics`` extra): the Fréchet distance between the dlib face
  descriptors of the candidates and those of real reference faces, disjoint from the evaluated ones; the
  ground truth's own figure at the same set size is the floor (Fréchet distances are biased upwards for
  small sets), bicubic and nearest upsampling the baselines. The same for random samples G(z), against the
  figure of as many further real faces;
* the landmark-heatmap metric (paper eq. 7), the normalised landmark error, the identity distance and
  the share of candidates dlib takes for the same person (needs the ``metrics`` extra);

PSNR and SSIM reward blur (the mean face scores well on them): judge a generative model by LR consistency,
sharpness, realism and diversity first. Each figure is given for the best candidate (an oracle that knows the
ground truth), the mean over the K candidates, and the candidate ranked first by LR consistency (what a user
sees first). Baselines on the same LR inputs: nearest and bicubic upsampling, and K = 1. Candidates are searched independently of each other (the loss
is a sum over candidates, Adam works per coordinate and the models are frozen), so the first K' candidates
of the search *are* a K'-candidate search: K = 1 and the quality-against-K curve come from the same run.

Outputs in ``--out``: ``results.json`` (every figure), ``results.md`` (the summary table), and with
matplotlib ``lr_consistency.png`` (LR L1 over the steps) and ``quality_vs_k.png``. Metrics whose packages
are missing are listed as not computed, with the reason, instead of failing the run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from . import metrics
from .progress import BatchStore, FinishedBatch
from ..training.data import image_files
from ..faces.lr_sources import lr_source_name, make_lr_images
from ..errors import InvalidImageError
from ..faces.framing import corpus_box, crop_centre, crop_corpus
from ..images import (centre_square, lr_fit_psnr, open_image, pil_to_tensor, psnr, round_to_8bit, stack_pil,
                      tensor_to_pil, to_unit_range, unit_range)
from ..search import SearchResult, SearchSettings
from ..pipeline import SRNAMPipeline
from .results import (EvaluationResult, Faceness, GroundTruthScores, SampleRealism, Scores, SRNAMScores, Summary,
                      Timing)
from ..faces.pose import Pose
from ..seeds import image_seed

LFW_FACES = 100  # scikit-image's lfw_subset(): 100 faces, then 100 non-faces
DEFAULT_FACENESS_SAMPLES = 500
CROPS = {"corpus": crop_corpus, "centre": crop_centre}
OLD_CROP_NAMES = {"none": "centre"}  # --crop none: the old spelling of centre
BASELINES = ("bicubic", "nearest")
# Faces searched together. With K = 8, 32 rows per batch: on the 2-core CPU, 32 rows gave the shipped models
# the most candidate-steps per second and 64 fewer (benchmarks/README.md). GPUs want larger batches.
DEFAULT_BATCH_FACES = 4
DEFAULT_REFERENCE_FACES = 1000


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # column header of the Markdown table
    higher_is_better: bool
    table_format: str = "{:.3f}"
    table_scale: float = 1.0  # the table shows value × scale (the JSON holds the values as computed)


METRICS = [
    Metric("lr_l1", "LR L1 ↓", False, "{:.4f}"),
    Metric("lr_psnr", "LR PSNR dB ↑", True, "{:.2f}"),
    Metric("hr_psnr", "HR PSNR dB ↑", True, "{:.2f}"),
    Metric("hr_ssim", "HR SSIM ↑", True, "{:.4f}"),
    Metric("landmark_heatmap", "heatmap MSE ×10³ ↓", False, "{:.3f}", 1e3),
    Metric("landmark_nle", "landmark NLE ↓", False, "{:.4f}"),
    Metric("identity_distance", "identity dist. ↓", False, "{:.3f}"),
    Metric("same_person", "same person ↑", True, "{:.0%}"),
    # The Haar cascade finds a face in the image (metrics.faces_found): mean of K is the candidates' face-ness
    Metric("face_found", "face-ness ↑", True, "{:.0%}"),
]
# Figures of a set of images, not averages of per-face values (summarise() and add_realism() compute them).
SET_METRICS = [
    Metric("sharpness", "sharpness (truth = 1)", True, "{:.2f}"),
    Metric("realism_fd", "face FD ↓", False, "{:.3f}"),
]
FACE_METRICS = ("landmark_heatmap", "landmark_nle", "identity_distance", "same_person")
STATISTICS = {  # how the K values of a face become one: statistic → description in the table
    "best": "best of K (oracle)",
    "mean": "mean of K",
    "first": "ranked first by LR L1",
}


# ---------------------------------------------------------------------------------------------- inputs
class FaceSet(NamedTuple):
    """Faces to evaluate: their names, the HR faces [N, 3, 64, 64] in [-1, 1], the files skipped as unreadable
    (with why), and how each face was framed (``srnam.faces.pose``; empty for the faces as they come)."""

    names: list[str]
    hr: torch.Tensor
    skipped: list[dict]
    framing: list[dict]


def crop_name(crop: str) -> str:
    """``crop`` in its one spelling ("none" is the old name of "centre"), or a ValueError listing the crops."""
    crop = OLD_CROP_NAMES.get(crop, crop)
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    return crop


# The upright framing square of each --crop in a square image of side w (what alignment starts from)
FRAMING_BOXES = {"corpus": corpus_box, "centre": lambda side: (0, 0, side, side)}


def load_faces(folder: Path, crop: str, limit: int | None = None, pose: Pose = Pose()) -> FaceSet:
    """The face images of ``folder`` (sorted by name, the first ``limit``), framed by ``crop`` and resized to
    64×64, or tilted and aligned first as ``pose`` says."""
    crop = crop_name(crop)
    names, faces, skipped, framing = [], [], [], []
    for path in image_files(folder):
        if limit is not None and len(names) == limit:
            break
        try:
            image = open_image(path, square=False)
        except InvalidImageError as err:
            skipped.append({"name": path.name, "reason": str(err)})
            continue
        if pose.upright:
            face = CROPS[crop](image, 64)
        else:
            image = centre_square(image)
            face, record = pose.frame(image, FRAMING_BOXES[crop](image.width), path.name)
            framing.append(record)
        faces.append(pil_to_tensor(face))
        names.append(path.name)
    if not faces:
        raise ValueError(f"{folder}: no readable images")
    return FaceSet(names, torch.cat(faces), skipped, framing)


REAL_FACE_SETS = ("lfw", "astronaut")


def load_real_faces(name: str, limit: int | None = None, pose: Pose = Pose()) -> FaceSet:
    """A set of real faces that ships in an installed package (scikit-image, the metrics extra), as 64×64 HR faces
    in [-1, 1], aligned if ``pose`` says so (they cannot be tilted: their upright truth is unknown).
    ``"lfw"``: :func:`load_lfw_faces`. ``"astronaut"``: ``skimage.data.astronaut()``, NASA's portrait of the
    astronaut Eileen Collins (public domain), one real face with its real identity, framed as the app frames a
    face: unaligned, the Haar cascade's box (``srnam.faces.detect.crop_face``); aligned, dlib's (the face tab's)."""
    if pose.rotate is not None:
        raise ValueError("--rotate tilts corpus portraits (HR_FOLDER), whose upright framing is known; "
                         "the real sets are evaluated as they come, aligned or not")
    if name == "lfw":
        return load_lfw_faces(limit, pose)
    if name != "astronaut":
        raise ValueError(f"real faces must be one of {', '.join(REAL_FACE_SETS)}, got {name!r}")
    try:
        from skimage.data import astronaut
    except ImportError as err:
        raise ValueError("the astronaut photo comes with scikit-image: pip install -e .[metrics]") from err
    from ..faces.alignment import largest_face_box
    from ..faces.detect import crop_face

    photo = Image.fromarray(astronaut())
    if not pose.align:
        face, found = crop_face(photo, 64)
        if not found:  # the shipped photo: a missed face is a framing bug, not an input to shrug at
            raise ValueError("no face found in skimage.data.astronaut()")
        return FaceSet(["astronaut"], pil_to_tensor(face), [], [])
    box = largest_face_box(photo)
    if box is None:
        raise ValueError("dlib finds no face in skimage.data.astronaut()")
    face, record = pose.frame(photo, box, "astronaut", truth_known=False)
    return FaceSet(["astronaut"], pil_to_tensor(face), [], [record])


def load_lfw_faces(limit: int | None = None, pose: Pose = Pose()) -> FaceSet:
    """The real faces of scikit-image's LFW subset (``skimage.data.lfw_subset()``: 100 photos of people from
    Labeled Faces in the Wild, 25×25 grey, cut from eyebrows to chin much as the corpus box cuts its portraits),
    as 64×64 RGB (bicubic; the HR side is an upscaled 25-px face, so identity and landmarks against it say
    little), named ``lfw_NNN``. Aligned (``pose.align``), the whole 25-px photo is the upright framing square that
    the landmarks are found in."""
    try:
        from skimage.data import lfw_subset
    except ImportError as err:
        raise ValueError("the LFW faces come with scikit-image: pip install -e .[metrics]") from err
    grey = lfw_subset()[:LFW_FACES][:limit]  # [N, 25, 25] in [0, 1]
    names, faces, framing = [f"lfw_{i:03d}" for i in range(len(grey))], [], []
    for name, face in zip(names, grey):
        photo = Image.fromarray((face * 255).round().astype(np.uint8)).convert("RGB")
        if pose.upright:
            faces.append(pil_to_tensor(photo.resize((64, 64), Image.Resampling.BICUBIC)))
            continue
        crop, record = pose.frame(photo, (0, 0, photo.width, photo.height), name, truth_known=False)
        faces.append(pil_to_tensor(crop))
        framing.append(record)
    return FaceSet(names, torch.cat(faces), [], framing)


def make_lr_inputs(hr: torch.Tensor, names: list[str], source: str, degradation, seed: int) -> torch.Tensor:
    """The LR input of every face of ``hr`` [N, 3, 64, 64], made by the named ``source``
    (:mod:`srnam.faces.lr_sources`): [N, 3, 16, 16] in [-1, 1], 8-bit values, as a real LR image has. The random
    parts are seeded per face name, so a face gets the same input whatever ``--limit`` or the other files are."""
    seeds = [image_seed(seed, name) for name in names]
    return stack_pil(make_lr_images([tensor_to_pil(face) for face in hr], source, degradation, seeds))


# ---------------------------------------------------------------------------------------------- evaluation
@dataclass
class RealismReference:
    """The real faces that realism is measured against, analysed once (select_checkpoint reuses them)."""

    descriptors: np.ndarray  # [R, 128] dlib descriptors of the reference faces
    floor_descriptors: np.ndarray  # [S, 128] of further real faces: the floor for S random samples
    laplacian: float  # mean Laplacian energy of the reference faces: the sharpness of random samples is against it

    @classmethod
    def from_faces(cls, analyser, faces: torch.Tensor, count: int) -> "RealismReference":
        """``faces`` [M, 3, 64, 64] in [-1, 1]: the first ``count`` are the reference, the rest the floor set."""
        if len(faces) < 2:
            raise ValueError(f"realism needs at least 2 reference faces, got {len(faces)}")
        unit = to_unit_range(faces)
        ids = analyser.descriptors(unit)
        return cls(ids[:count], ids[count:], float(metrics.laplacian_energy(unit[:count]).mean()))

    def sample_realism(self, analyser, samples: torch.Tensor) -> dict:
        """Face FD to the reference and sharpness against the reference faces of ``samples`` [N, 3, 64, 64] in
        [0, 1] (random generator samples, which have no ground truth of their own)."""
        return {"face_fd": metrics.frechet_distance(analyser.descriptors(samples), self.descriptors),
                "sharpness": float(metrics.laplacian_energy(samples).mean()) / self.laplacian}


EVALUATION_SEARCH = SearchSettings(num_candidates=8, num_steps=300, seed=0)


def evaluate(pipe: SRNAMPipeline, names: list[str], hr: torch.Tensor, *, lr_source: str = "degrade",
             search: SearchSettings = EVALUATION_SEARCH, batch_faces: int = DEFAULT_BATCH_FACES,
             faceness_samples: int = 0, reference: torch.Tensor | RealismReference | None = None,
             reference_faces: int = DEFAULT_REFERENCE_FACES, store: BatchStore | None = None) -> EvaluationResult:
    """Evaluate on the faces ``hr`` [N, 3, 64, 64] in [-1, 1] named ``names``; returns the results as an
    :class:`EvaluationResult` (its ``to_json()`` is the ``results.json`` layout, less the settings). ``search``: the search's settings;
    its seed (0 when None) seeds the LR inputs and, per batch of ``batch_faces``, the search. ``reference``:
    real faces disjoint from ``hr`` ([M, 3, 64, 64], the first ``reference_faces`` as the reference, the rest as
    the floor set of the random samples), or a :class:`RealismReference`; None: no realism figures. ``store``:
    where each finished batch is saved, and batches finished before are loaded from (``progress.BatchStore``)."""
    seed = 0 if search.seed is None else search.seed
    num_candidates, num_steps = search.num_candidates, search.num_steps
    lr_source = lr_source_name(lr_source)  # before the slow part: a wrong name fails at once
    not_computed = {}
    reason = metrics.face_metrics_unavailable()
    if reason:
        not_computed[", ".join(FACE_METRICS + ("realism",))] = reason
    analyser = metrics.FaceAnalyser() if reason is None else None
    if reference is None and analyser is not None:
        not_computed["realism"] = "no reference faces given (srnam evaluate --reference FOLDER)"
    if isinstance(reference, torch.Tensor):
        reference = RealismReference.from_faces(analyser, reference, reference_faces) if analyser else None

    lr = make_lr_inputs(hr, names, lr_source, pipe.degradation, seed)  # [N, 3, 16, 16] in [-1, 1]
    faces, histories, descriptors, search_seconds = [], [], [], 0.0
    batches = range(0, len(names), batch_faces)
    with tqdm(total=len(batches) * num_steps, desc="search steps", unit="step", dynamic_ncols=True) as progress:
        def advance(state) -> None:  # returns None: a True would stop the search
            progress.update()

        for index, start in enumerate(batches):
            batch = slice(start, start + batch_faces)
            done = store.load(index) if store is not None else None
            if done is None:
                done = search_and_score(pipe, names[batch], hr[batch], lr[batch], search, seed, index, analyser,
                                        advance)
                if store is not None:
                    store.save(index, done)
            else:
                progress.update(num_steps)
            search_seconds += done.seconds
            histories.append(done.history)
            faces += done.faces
            descriptors.append(done.descriptors)
    history = torch.cat(histories, dim=1)  # [steps, N, K]
    ks = sorted({2 ** i for i in range(num_candidates.bit_length()) if 2 ** i <= num_candidates} | {num_candidates})
    summary = summarise(faces, num_candidates)
    if reference is not None:
        ids = {key: np.concatenate([d[key] for d in descriptors]) for key in descriptors[0]}
        add_realism(summary, faces, ids, reference)
    timing = Timing(search_seconds=round(search_seconds, 2), device=str(pipe.device),
                    seconds_per_face=round(search_seconds / len(names), 3), threads=torch.get_num_threads(),
                    candidate_steps_per_second=round(len(names) * num_candidates * num_steps / search_seconds, 1))
    return EvaluationResult(
        summary=summary, quality_vs_k=[(k, summarise(faces, k).srnam) for k in ks],
        mean_l1_over_steps=_rounded(history.mean(dim=(1, 2))),  # averaged over the faces
        best_l1_over_steps=_rounded(history.min(dim=2).values.mean(dim=1)), timing=timing, faces=faces,
        not_computed=not_computed,
        faceness=faceness(pipe, hr, faceness_samples, seed, analyser, reference) if faceness_samples else None)


def search_and_score(pipe: SRNAMPipeline, names: list[str], hr: torch.Tensor, lr: torch.Tensor,
                     search: SearchSettings, seed: int, index: int, analyser, callback) -> FinishedBatch:
    """Search batch ``index`` of the evaluation (its own seed, so that it is the same batch whenever it runs) and
    score it."""
    started = time.perf_counter()
    found = pipe.search(lr.to(pipe.device), replace(search, seed=image_seed(seed, f"search batch {index}")),
                        callback=callback)
    seconds = time.perf_counter() - started
    scored, ids = score_batch(names, hr, lr, found, analyser)
    truth_psnr = truth_lr_psnr(pipe.degradation, hr, lr, names, search.num_candidates, seed)
    for face, values in zip(scored, truth_psnr):
        face["ground_truth"] = {"lr_psnr": _rounded(values)}
    return FinishedBatch(scored, found.loss_history.cpu(), ids, seconds)  # history: [steps, B, K]


@torch.no_grad()
def faceness(pipe: SRNAMPipeline, hr: torch.Tensor, num_samples: int, seed: int, analyser=None,
             reference: RealismReference | None = None) -> Faceness:
    """How often the face detector finds a face in random generator samples G(z), and, as the ceiling, in
    the ground-truth faces ``hr`` framed the same way (both upsampled to 256 px). With a ``reference``, also
    the samples' realism (Fréchet distance of their face descriptors to the reference, beside that of as many
    further real faces: the floor) and sharpness (against the reference faces)."""
    rng = torch.Generator().manual_seed(image_seed(seed, "faceness"))
    z = torch.randn(num_samples, pipe.generator.latent_size, generator=rng)
    samples = torch.cat([pipe.generator(chunk.to(pipe.device)).cpu() for chunk in z.split(64)])  # [N, 3, 64, 64]
    found = Faceness(detector="OpenCV Haar cascade (srnam.faces.detect.detect_face), images upsampled to "
                              f"{metrics.ANALYSIS_SIZE} px",
                     generator_samples=num_samples, generator_rate=metrics.face_detection_rate(samples),
                     ground_truth_faces=len(hr), ground_truth_rate=metrics.face_detection_rate(hr))
    if reference is not None and analyser is not None:
        realism = reference.sample_realism(analyser, to_unit_range(samples))
        floor = reference.floor_descriptors
        found.realism = SampleRealism(
            generator_face_fd=round(realism["face_fd"], 6), real_faces_at_this_size=len(floor),
            real_face_fd=round(metrics.frechet_distance(floor, reference.descriptors), 6) if len(floor) > 1 else None,
            reference_faces=len(reference.descriptors), generator_sharpness=round(realism["sharpness"], 6))
    return found


@torch.no_grad()
def truth_lr_psnr(degradation, hr: torch.Tensor, lr: torch.Tensor, names: list[str], num_candidates: int,
                  seed: int) -> torch.Tensor:
    """[N, K]: the LR PSNR of each ground-truth face ``hr`` [N, 3, 64, 64] against its input ``lr``
    [N, 3, 16, 16] (both in [-1, 1]), projected as each of K candidates is: D(x, n_k), rounded to 8 bits, with
    noise vectors seeded per face and k, never the input's own."""
    k = num_candidates
    seeds = [image_seed(seed, f"truth projection {i}: {name}") for name in names for i in range(k)]
    projected = degradation.photograph(hr.repeat_interleave(k, dim=0), seeds)  # [N·K, 3, 16, 16]
    projected = round_to_8bit(to_unit_range(projected)).unflatten(0, (len(names), k))
    return lr_fit_psnr(projected, to_unit_range(lr)[:, None])


def score_batch(names: list[str], hr: torch.Tensor, lr: torch.Tensor, result: SearchResult,
                analyser) -> tuple[list[dict], dict]:
    """The figures of one search batch, per face: each metric's value for every candidate (in search order)
    and for each baseline, the Laplacian energy of each (and of the ground truth: the sharpness), and the
    diversity of the first k candidates for every k. Also the dlib descriptors of every image (for realism):
    "srnam" [B, K, 128], each baseline [B, 1, 128], "truth" [B, 128]; none without the analyser."""
    b, k = result.hr.shape[:2]
    truth, lr_input = to_unit_range(hr), to_unit_range(lr)  # [B, 3, 64, 64], [B, 3, 16, 16]
    candidates = round_to_8bit(unit_range(result.hr))  # [B, K, 3, 64, 64], in search order
    projections = round_to_8bit(unit_range(result.lr))  # [B, K, 3, 16, 16]
    images = {"srnam": candidates, **{  # method → [B, K or 1, 3, 64, 64], rounded to 8 bits like the candidates
        mode: to_unit_range(F.interpolate(lr, size=hr.shape[-1], mode=mode))[:, None] for mode in BASELINES}}
    scores = {method: {"hr_psnr": psnr(x, truth[:, None]), "hr_ssim": metrics.ssim(x, truth[:, None]),
                       "laplacian": metrics.laplacian_energy(x)}
              for method, x in images.items()}  # method → metric → [B, K or 1]
    scores["srnam"].update(lr_l1=result.l1.cpu(), lr_psnr=lr_fit_psnr(projections, lr_input[:, None]))
    for method, x in images.items():  # x in [0, 1]; faces_found takes [-1, 1]
        scores[method]["face_found"] = metrics.faces_found(x.flatten(0, 1) * 2 - 1).reshape(x.shape[:2])
    truth_laplacian = metrics.laplacian_energy(truth)  # [B]
    truth_found = metrics.faces_found(hr)  # [B]
    descriptors = {}
    if analyser is not None:
        truth_points, truth_ids = analyser.analyse(truth)  # [B, 68, 2], [B, 128]
        descriptors["truth"] = truth_ids
        for method, x in images.items():
            values, descriptors[method] = face_scores(analyser, x, truth_points, truth_ids)
            scores[method].update(values)
    return [{
        "name": name,
        "srnam": {metric: _rounded(values[i]) for metric, values in scores["srnam"].items()},
        **{mode: {metric: _rounded(values[i, 0]) for metric, values in scores[mode].items()} for mode in BASELINES},
        "truth_laplacian": _rounded(truth_laplacian[i]),
        "truth_face_found": _rounded(truth_found[i]),
        "diversity": [round(metrics.mean_pairwise_l1(candidates[i, :n]), 6) for n in range(1, k + 1)],  # first n
    } for i, name in enumerate(names)], descriptors


def face_scores(analyser, images: torch.Tensor, truth_points: np.ndarray,
                truth_ids: np.ndarray) -> tuple[dict, np.ndarray]:
    """The face metrics of ``images`` [B, n, 3, H, W] in [0, 1] against the landmarks and descriptors of their
    ground truth (one per face, [B, ...]): metric → [B, n]; and the images' descriptors [B, n, 128]."""
    n, size = images.shape[1], images.shape[-1]
    points, ids = analyser.analyse(images.flatten(0, 1))  # [B·n, 68, 2], [B·n, 128]
    pairs = [(points[i], ids[i], truth_points[i // n], truth_ids[i // n]) for i in range(len(points))]
    values = {
        "landmark_heatmap": [metrics.landmark_heatmap_distance(p, p_true, size) for p, _, p_true, _ in pairs],
        "landmark_nle": [metrics.normalised_landmark_error(p, p_true) for p, _, p_true, _ in pairs],
        "identity_distance": [metrics.identity_distance(d, d_true) for _, d, _, d_true in pairs],
    }
    values["same_person"] = [float(d < metrics.SAME_PERSON_DISTANCE) for d in values["identity_distance"]]
    return ({name: torch.tensor(v).reshape(images.shape[:2]) for name, v in values.items()},
            ids.reshape(*images.shape[:2], -1))


def add_realism(summary: Summary, faces: list[dict], ids: dict, reference: RealismReference) -> None:
    """Add the Fréchet distances of the face descriptors to the reference faces into ``summary``: SR-NAM's
    first-ranked candidates, the mean over k of the distance of every face's k-th candidate (sets of one
    candidate per face, the size of the ground truth's set, so the figures compare), each baseline, and the
    ground truth itself (the floor at this size)."""
    def fd(features: np.ndarray) -> float:
        return round(metrics.frechet_distance(features, reference.descriptors), 6)

    srnam = ids["srnam"]  # [N, K, 128]
    first = [int(np.argmin(face["srnam"]["lr_l1"])) for face in faces]
    summary.srnam.first.realism_fd = fd(srnam[np.arange(len(faces)), first])
    summary.srnam.mean.realism_fd = round(float(np.mean([fd(srnam[:, k]) for k in range(srnam.shape[1])])), 6)
    for mode in BASELINES:
        summary.baseline(mode).realism_fd = fd(ids[mode][:, 0])
    summary.ground_truth.realism_fd = fd(ids["truth"])
    summary.realism_reference_faces = len(reference.descriptors)


def summarise(faces: list[dict], k: int) -> Summary:
    """Averages over the faces, from each face's first ``k`` candidates: for SR-NAM one value per statistic and
    metric, and the diversity; for each baseline one value per metric; sharpness for each (ratios of mean
    Laplacian energies to the ground truth's, "best" excluded: it is not a per-face choice) and for the ground
    truth itself (1). None: not computed or not applicable."""
    collected: dict[tuple, list[float]] = {}  # (method, statistic, metric) → one value per face
    for face in faces:
        first = int(np.argmin(face["srnam"]["lr_l1"][:k]))  # the candidate a user sees first
        for metric in METRICS:
            values = face["srnam"].get(metric.name, [])[:k]
            if values:
                best = max(values) if metric.higher_is_better else min(values)
                for stat, value in (("best", best), ("mean", float(np.mean(values))), ("first", values[first])):
                    collected.setdefault(("srnam", stat, metric.name), []).append(value)
            for mode in BASELINES:
                if metric.name in face[mode]:
                    collected.setdefault((mode, "", metric.name), []).append(face[mode][metric.name])
        laplacian = face["srnam"]["laplacian"][:k]
        collected.setdefault(("srnam", "mean", "laplacian"), []).append(float(np.mean(laplacian)))
        collected.setdefault(("srnam", "first", "laplacian"), []).append(laplacian[first])
        for mode in BASELINES:
            collected.setdefault((mode, "", "laplacian"), []).append(face[mode]["laplacian"])
        collected.setdefault(("truth", "", "laplacian"), []).append(face["truth_laplacian"])
        if "truth_face_found" in face:
            collected.setdefault(("truth", "", "face_found"), []).append(face["truth_face_found"])
        if "ground_truth" in face:  # the truth's own LR PSNR, projected with the first k candidates' noise draws
            truth_psnr = face["ground_truth"]["lr_psnr"][:k]
            collected.setdefault(("truth", "mean", "lr_psnr"), []).append(float(np.mean(truth_psnr)))
            collected.setdefault(("truth", "best", "lr_psnr"), []).append(max(truth_psnr))

    def average(key: tuple) -> float | None:
        return round(float(np.mean(collected[key])), 6) if key in collected else None

    def sharpness(method: str, stat: str = "") -> float:
        return round(float(np.mean(collected[(method, stat, "laplacian")]) /
                           max(np.mean(collected[("truth", "", "laplacian")]), 1e-12)), 6)

    def scores(method: str, stat: str = "") -> Scores:  # realism_fd: add_realism() fills it in, given a reference
        return Scores(**{m.name: average((method, stat, m.name)) for m in METRICS},
                      sharpness=None if stat == "best" else sharpness(method, stat))

    srnam = SRNAMScores(best=scores("srnam", "best"), mean=scores("srnam", "mean"), first=scores("srnam", "first"),
                        diversity=round(float(np.mean([face["diversity"][k - 1] for face in faces])), 6))
    truth = GroundTruthScores(lr_psnr=average(("truth", "mean", "lr_psnr")),
                              lr_psnr_best=average(("truth", "best", "lr_psnr")),
                              face_found=average(("truth", "", "face_found")))
    return Summary(srnam, bicubic=scores("bicubic"), nearest=scores("nearest"), ground_truth=truth)


def _rounded(values: torch.Tensor) -> float | list:
    """A tensor as (nested) Python floats with 6 decimals, for a JSON of reasonable size."""
    return np.round(values.double().numpy(), 6).tolist()
