"""The evaluation's results as typed records: what ``evaluate`` computes and what the report, the plots,
``train/select_checkpoint.py`` and the model card read, so that a misspelt figure is an AttributeError where it is
read, not a silent None. ``EvaluationResult.to_json()`` is the ``results.json`` layout; ``from_json`` reads it back.

Every figure is a mean over the faces; None where it was not computed (the dlib metrics without the metrics extra,
realism without reference faces) or does not apply (the sharpness of a per-face oracle choice).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Scores:
    """One method's figures: one of SR-NAM's statistics of its K candidates, or a baseline (names as ``METRICS``
    and ``SET_METRICS`` of :mod:`srnam.evaluation.run` give them)."""
    lr_l1: float | None = None
    lr_psnr: float | None = None
    hr_psnr: float | None = None
    hr_ssim: float | None = None
    landmark_heatmap: float | None = None
    landmark_nle: float | None = None
    identity_distance: float | None = None
    same_person: float | None = None
    face_found: float | None = None
    sharpness: float | None = None  # the images' mean squared Laplacian over the ground truth's
    realism_fd: float | None = None  # face FD against the reference faces

    def get(self, name: str) -> float | None:
        return getattr(self, name)


@dataclass
class SRNAMScores:
    """SR-NAM's K candidates per face, three ways (``STATISTICS``), and how much they differ."""
    best: Scores  # the best of K by each metric (an oracle: no user can pick it)
    mean: Scores  # the mean of K
    first: Scores  # the candidate ranked first by LR L1, the one a user sees first
    diversity: float  # mean pairwise L1 between a face's candidates

    def statistic(self, name: str) -> Scores:
        return {"best": self.best, "mean": self.mean, "first": self.first}[name]


@dataclass
class GroundTruthScores:
    sharpness: float = 1.0
    realism_fd: float | None = None  # the floor of the candidates' face FD at this set size
    lr_psnr: float | None = None  # the true face's own fit, projected as a candidate is (mean of K noise draws)
    lr_psnr_best: float | None = None
    face_found: float | None = None


@dataclass
class Summary:
    srnam: SRNAMScores
    bicubic: Scores
    nearest: Scores
    ground_truth: GroundTruthScores
    realism_reference_faces: int | None = None  # how many reference faces the face FDs are against

    def baseline(self, mode: str) -> Scores:
        return {"bicubic": self.bicubic, "nearest": self.nearest}[mode]


@dataclass
class SampleRealism:
    """Random samples G(z) against the reference faces: their face FD, beside that of as many further real faces
    (the floor; None with fewer than two), and their sharpness against the reference faces'."""
    generator_face_fd: float
    real_faces_at_this_size: int
    real_face_fd: float | None
    reference_faces: int
    generator_sharpness: float


@dataclass
class Faceness:
    """How often the face detector finds a face in random samples G(z) and, the ceiling, in the true faces; with
    reference faces, the samples' realism too."""
    detector: str
    generator_samples: int
    generator_rate: float
    ground_truth_faces: int
    ground_truth_rate: float
    realism: SampleRealism | None = None


@dataclass
class Timing:
    search_seconds: float
    device: str
    seconds_per_face: float
    threads: int
    candidate_steps_per_second: float


@dataclass
class EvaluationResult:
    summary: Summary
    quality_vs_k: list[tuple[int, SRNAMScores]]  # SR-NAM's figures from each face's first k candidates
    mean_l1_over_steps: list[float]  # LR L1 before each step's update, mean over faces and candidates
    best_l1_over_steps: list[float]  # the same, best candidate per face
    timing: Timing
    faces: list[dict]  # per face: its name and every per-candidate value (the JSON's raw data)
    not_computed: dict[str, str] = field(default_factory=dict)  # figures left out → why
    faceness: Faceness | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # how it was run (the CLI records it)
    framing: dict[str, Any] | None = None  # how the faces were framed (srnam.faces.pose.framing_summary)
    skipped: list[dict] = field(default_factory=list)  # unreadable files: name and reason
    srnam_version: str = ""

    def to_json(self) -> dict:
        """The ``results.json`` layout (the same as before these records existed)."""
        out = {"srnam_version": self.srnam_version, "settings": self.settings, "skipped": self.skipped} \
            if self.settings else {}
        out |= {"not_computed": self.not_computed, "summary": _plain(self.summary),
               "quality_vs_k": {"k": [k for k, _ in self.quality_vs_k],
                                "srnam": [_plain(scores) for _, scores in self.quality_vs_k]},
               "lr_consistency_over_steps": {"mean_l1": self.mean_l1_over_steps, "best_l1": self.best_l1_over_steps},
               "timing": _plain(self.timing)}
        if self.faceness is not None:
            out["faceness"] = _plain(self.faceness)
        out["faces"] = self.faces
        if self.framing is not None:
            out["framing"] = self.framing
        return out

    @classmethod
    def from_json(cls, data: dict) -> "EvaluationResult":
        summary = data["summary"]
        by_k = data["quality_vs_k"]
        return cls(
            summary=Summary(srnam=_srnam_scores(summary["srnam"]), bicubic=Scores(**summary["bicubic"]),
                            nearest=Scores(**summary["nearest"]),
                            ground_truth=GroundTruthScores(**summary["ground_truth"]),
                            realism_reference_faces=summary.get("realism_reference_faces")),
            quality_vs_k=[(k, _srnam_scores(scores)) for k, scores in zip(by_k["k"], by_k["srnam"])],
            mean_l1_over_steps=data["lr_consistency_over_steps"]["mean_l1"],
            best_l1_over_steps=data["lr_consistency_over_steps"]["best_l1"],
            timing=Timing(**data["timing"]), faces=data["faces"], not_computed=data.get("not_computed", {}),
            faceness=_faceness(data["faceness"]) if "faceness" in data else None,
            settings=data.get("settings", {}), framing=data.get("framing"), skipped=data.get("skipped", []),
            srnam_version=data.get("srnam_version", ""))


def _srnam_scores(data: dict) -> SRNAMScores:
    return SRNAMScores(best=Scores(**data["best"]), mean=Scores(**data["mean"]), first=Scores(**data["first"]),
                       diversity=data["diversity"])


def _faceness(data: dict) -> Faceness:
    realism = {key: data[key] for key in (f.name for f in dataclasses.fields(SampleRealism)) if key in data}
    plain = {key: value for key, value in data.items() if key not in realism}
    return Faceness(**plain, realism=SampleRealism(**realism) if realism else None)


def _plain(record) -> dict:
    """A record as JSON values, as results.json always held them: the summary's optional count left out when
    unset, the samples' realism figures beside the face-ness ones."""
    out = dataclasses.asdict(record)
    if isinstance(record, Summary) and record.realism_reference_faces is None:
        del out["realism_reference_faces"]
    if isinstance(record, Faceness):
        out |= out.pop("realism") or {}
    return out
