"""The evaluation's report: the Markdown table, the two plots and the output folder (``results.json``,
``results.md``), all read from an :class:`~srnam.evaluation.results.EvaluationResult`. Computing is ``run``'s."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..jsonfile import write_json
from .metrics import METRICS_EXTRA_HINT
from .results import EvaluationResult, Faceness, Summary
from .run import BASELINES, METRICS, SET_METRICS, STATISTICS, Metric


def markdown_table(results: EvaluationResult) -> str:
    """The summary as a Markdown table: SR-NAM's statistics, K = 1 and the baselines, one column per metric."""
    summary, k = results.summary, results.settings["num_candidates"]
    k1 = results.quality_vs_k[0][1].mean  # k = 1 comes first; its three statistics coincide
    rows = [(f"SR-NAM K={k}, {description}", summary.srnam.statistic(stat), summary.srnam.diversity)
            for stat, description in STATISTICS.items()]
    rows += [("SR-NAM K=1", k1, 0.0)] + [(f"{mode} upsampling", summary.baseline(mode), None) for mode in BASELINES]
    rows += [("ground truth", summary.ground_truth, None)]
    columns = METRICS + SET_METRICS

    def cell(metric: Metric, value: float | None) -> str:
        return "n/a" if value is None else metric.table_format.format(value * metric.table_scale)

    header = ["method"] + [m.label for m in columns] + ["diversity ↑"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, values, diversity in rows:
        lines.append("| " + " | ".join([label] + [cell(m, getattr(values, m.name, None)) for m in columns]
                                       + ["n/a" if diversity is None else f"{diversity:.4f}"]) + " |")
    if results.faceness is not None:
        lines += faceness_lines(results.faceness)
    lines += summary_notes(summary)
    timing = results.timing
    lines.append(f"\nSearch time: {timing.seconds_per_face:.2f} s per face ({timing.device}, "
                 f"{timing.threads} threads, {timing.candidate_steps_per_second:.0f} candidate-steps/s).")
    settings = results.settings
    lines.append(f"\n{len(results.faces)} faces from {settings['hr_folder']} (crop {settings['crop']}), "
                 f"LR source {settings['lr_source']}, {settings['num_steps']} steps, seed {settings['seed']}; "
                 f"model {settings['model']}. PSNR and SSIM on 8-bit images; LR L1 on the [-1, 1] scale.")
    if results.framing is not None:
        lines.append(framing_line(results.framing))
    return "\n".join(lines)


def faceness_lines(found: Faceness) -> list[str]:
    lines = [f"\nFace-ness: a face is found in {found.generator_rate:.1%} of {found.generator_samples} random "
             f"samples G(z) and in {found.ground_truth_rate:.1%} of the {found.ground_truth_faces} ground-truth "
             f"faces (the ceiling); detector: {found.detector}."]
    if (realism := found.realism) is not None:
        floor = "n/a" if realism.real_face_fd is None else f"{realism.real_face_fd:.3f}"
        lines.append(f"Random samples G(z): face FD {realism.generator_face_fd:.3f} against {realism.reference_faces} "
                     f"reference faces ({realism.real_faces_at_this_size} further real faces: {floor}, the floor), "
                     f"sharpness {realism.generator_sharpness:.2f} of real faces'.")
    return lines


def summary_notes(summary: Summary) -> list[str]:
    """What the table's realism and ground-truth figures mean, where they were computed."""
    lines = []
    if summary.realism_reference_faces:
        lines.append(f"\nFace FD: Fréchet distance between dlib face descriptors and those of "
                     f"{summary.realism_reference_faces} reference faces (one candidate per face; the ground "
                     f"truth's own figure is the floor at this set size). Sharpness: mean squared Laplacian "
                     f"against the ground truth's.")
    truth = summary.ground_truth
    if truth.lr_psnr is not None:
        lines.append(f"\nThe ground truth's LR PSNR is the true face's own fit: projected by the camera model as a "
                     f"candidate is, with noise of its own, {truth.lr_psnr:.2f} dB (mean of K; best of K "
                     f"{truth.lr_psnr_best:.2f} dB). Candidates far above it fit the input's noise draw.")
    return lines


def framing_line(framing: dict) -> str:
    """The Markdown table's note on how the faces were framed (``srnam.faces.pose.framing_summary``)."""
    parts = ["aligned onto the corpus's landmarks" if framing["aligned"] else "not aligned (the upright square)"]
    if framing["rotate"] is not None:
        low, high = framing["rotate"]
        parts.append(f"each HR face tilted first by {low:g}° to {high:g}° either way "
                     f"(mean |tilt| {framing['mean_abs_angle']:.1f}°)")
    if "mean_abs_residual_tilt" in framing:
        parts.append(f"the searched square's tilt minus the face's: mean |{framing['mean_abs_residual_tilt']:.1f}°|")
    if "framing_psnr" in framing:
        parts.append(f"searched crop against the upright face's crop: {framing['framing_psnr']:.2f} dB")
    return "\nFraming: " + "; ".join(parts) + "."


def write_outputs(results: EvaluationResult, out: Path) -> None:
    """results.json, results.md and, with matplotlib, the two plots (else listed in ``not_computed``)."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        plot_lr_consistency(results, out / "lr_consistency.png")
        plot_quality_vs_k(results, out / "quality_vs_k.png")
    except ImportError as err:
        results.not_computed["plots"] = f"{err} ({METRICS_EXTRA_HINT})"
    write_json(out / "results.json", results.to_json(), indent=1)
    (out / "results.md").write_text(markdown_table(results) + "\n", encoding="utf-8")


def _figure(columns: int):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    figure = Figure(figsize=(4.5 * columns, 3.6), layout="constrained")
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def plot_lr_consistency(results: EvaluationResult, path: Path) -> None:
    figure, (axes,) = _figure(1)
    steps = np.arange(1, len(results.mean_l1_over_steps) + 1)
    axes.plot(steps, results.mean_l1_over_steps, label="mean of K")
    axes.plot(steps, results.best_l1_over_steps, label="best of K")
    axes.set(xlabel="step", ylabel="LR L1 (before the step's update)",
             title=f"LR consistency, mean over {len(results.faces)} faces")
    axes.legend()
    figure.savefig(path, dpi=120)


def plot_quality_vs_k(results: EvaluationResult, path: Path) -> None:
    """HR PSNR, identity distance (when computed) and diversity of SR-NAM against K, with the baselines."""
    ks, by_k, summary = [k for k, _ in results.quality_vs_k], [s for _, s in results.quality_vs_k], results.summary
    panels = [("hr_psnr", "HR PSNR (dB)")]
    if summary.bicubic.identity_distance is not None:
        panels.append(("identity_distance", "identity distance (< 0.6: same person)"))
    figure, axes = _figure(len(panels) + 1)
    for ax, (metric, label) in zip(axes, panels):
        for stat, description in STATISTICS.items():
            ax.plot(ks, [row.statistic(stat).get(metric) for row in by_k], marker="o", label=description)
        for mode, style in zip(BASELINES, ("--", ":")):
            ax.axhline(summary.baseline(mode).get(metric), color="gray", linestyle=style, label=f"{mode} upsampling")
        ax.set(ylabel=label, title=label.split(" (")[0])
        ax.legend(fontsize="small")
    axes[-1].plot(ks, [row.diversity for row in by_k], marker="o")
    axes[-1].set(ylabel="mean pairwise L1", title="diversity")
    for ax in axes:
        ax.set_xscale("log", base=2)  # K doubles from point to point
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("K (candidates)")
    figure.savefig(path, dpi=120)
