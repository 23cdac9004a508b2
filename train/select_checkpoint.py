"""Pick the generator snapshot of a ProGAN run by its results on held-out faces, not by the last step.

examples:
  python train/select_checkpoint.py runs/progan runs/degradation ../shared/data/faces128/dev --skip 400 --limit 48 \
      --reference ../shared/data/faces128/train

Every snapshot in GENERATOR_RUN/snapshots/ (written in the last stage by --snapshot-every) is paired with the
degradation run's export and evaluated like ``srnam evaluate`` does: LR inputs made from the faces by the
degradation model, K candidates × N steps. It also measures random samples: face-detection rate and, with
--reference, their realism and sharpness. The table goes to the terminal and OUT (default
GENERATOR_RUN/selection.json), and the chosen snapshot is named last. Select on faces that the final
evaluation does not use (--skip). Run it again while the run goes on: the snapshots already measured with
the same settings are kept, only new ones are evaluated. --compare-with checkpoints/default measures the
generator shipped now beside them, as "current": when the criterion prefers it, no snapshot is worth shipping.

The criterion (``choose``) rewards realism, never blur; HR PSNR is reported but not used (the mean face wins it):
  1. LR consistency is the method's contract: only snapshots whose mean LR PSNR is within 1 dB of the best
     snapshot's, or at least the ground truth's own (the true face projected by the camera model as a candidate
     is, with noise of its own: what finding the true face would score), take part. Beyond the truth's fit, a
     better fit is the input's noise draw, which a blurred mean face matches more easily than a sharp real one;
  2. broken faces are out: only those whose face-ness (random samples) is within 10 points of the best one's;
  3. of those, the lowest score: the face-descriptor Fréchet distance of the candidates to real faces (what a
     user sees), plus 0.05 per unit of log-ratio by which the candidates' sharpness lies outside the band of
     real faces (0.7–1.3). Without --reference: the sharpness nearest to the band, then nearest to 1.
  A sharp snapshot whose added detail is noise scores worse on the descriptors than a smooth one: the first
  fine-tuning run (train/default_checkpoint/finetune_trials.md) had exactly that, and this order picks by the faces.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from srnam import SRNAMPipeline
from srnam.evaluation import metrics
from srnam.jsonfile import dumps, write_json
from srnam.evaluation.run import RealismReference, evaluate, load_faces
from srnam.search import SearchSettings
from srnam.models import DegradationGenerator, load_generator
from srnam.training.run import find_model_folder
from srnam.training.selection import CRITERION, choose

CURRENT = "current"  # the table's name for --compare-with


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generator_run", type=Path, help="run folder of train/train_progan.py")
    parser.add_argument("degradation_run", type=Path, help="the degradation model: a run folder of "
                        "train/train_degradation.py (exported), one of its snapshots, or a pipeline folder")
    parser.add_argument("faces", type=Path, help="folder of held-out portraits (corpus framing)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N faces (sorted by name)")
    parser.add_argument("--limit", type=int, default=48, help="faces to evaluate after the skipped ones")
    parser.add_argument("-k", "--candidates", type=int, default=8)
    parser.add_argument("-n", "--steps", type=int, default=300)
    parser.add_argument("--faceness", type=int, default=200, help="random samples for the face-detection rate")
    parser.add_argument("--reference", type=Path,
                        help="real faces for realism, disjoint from FACES (e.g. the training split)")
    parser.add_argument("--reference-limit", type=int, default=1000, help="reference faces (default 1000)")
    parser.add_argument("--snapshots", nargs="+", metavar="STEP", help="evaluate only these snapshots "
                        "(e.g. step-0012000; default: all)")
    parser.add_argument("--compare-with", type=Path, help="a generator to measure beside the snapshots, named "
                        "'current' (a pipeline folder such as checkpoints/default, or a generator folder)")
    parser.add_argument("--out", type=Path, help="default: GENERATOR_RUN/selection.json")
    args = parser.parse_args(argv)

    snapshots = sorted((args.generator_run / "snapshots").glob("step-*"))
    if not snapshots:
        print(f"error: no snapshots in {args.generator_run / 'snapshots'} (train with --snapshot-every)",
              file=sys.stderr)
        return 1
    if args.snapshots:
        missing = sorted(set(args.snapshots) - {snapshot.name for snapshot in snapshots})
        if missing:
            print(f"error: no snapshot {', '.join(missing)} in {args.generator_run / 'snapshots'} (it has "
                  f"{', '.join(snapshot.name for snapshot in snapshots)})", file=sys.stderr)
            return 1
        snapshots = [snapshot for snapshot in snapshots if snapshot.name in args.snapshots]
    candidates = {snapshot.name: snapshot / "generator" for snapshot in snapshots}
    if args.compare_with is not None:
        candidates[CURRENT] = find_model_folder(args.compare_with, "generator")
    names, hr, *_ = load_faces(args.faces, "corpus", args.skip + args.limit)
    names, hr = names[args.skip:], hr[args.skip:]
    degradation = DegradationGenerator.from_folder(find_model_folder(args.degradation_run, "degradation"))
    out = args.out or args.generator_run / "selection.json"
    settings = {"faces": f"{args.faces} [{args.skip}:{args.skip + len(names)}]", "candidates": args.candidates,
                "steps": args.steps, "faceness_samples": args.faceness, "criterion": CRITERION,
                "reference": None if args.reference is None else f"{args.reference} [:{args.reference_limit}]",
                "compare_with": None if args.compare_with is None else str(candidates[CURRENT])}
    table = {}
    if out.is_file():  # a run still training: snapshots measured before with the same settings are kept
        previous = json.loads(out.read_text())
        if {key: previous.get(key) for key in settings} == settings:
            table = previous["snapshots"]
    reference = None
    todo = [name for name in candidates if name not in table]
    if todo and args.reference is not None and metrics.face_metrics_unavailable() is None:
        faces = load_faces(args.reference, "corpus", args.reference_limit + args.faceness)[1]
        reference = RealismReference.from_faces(metrics.FaceAnalyser(), faces, args.reference_limit)  # once
    for name in todo:
        pipe = SRNAMPipeline(load_generator(candidates[name]), degradation)
        results = evaluate(pipe, names, hr, lr_source="degrade",
                           search=SearchSettings(args.candidates, args.steps, seed=0), batch_faces=8,
                           faceness_samples=args.faceness, reference=reference)
        summary, srnam, faceness = results.summary, results.summary.srnam, results.faceness  # None: not measured
        samples = faceness and faceness.realism
        table[name] = {
            "lr_psnr_mean": srnam.mean.lr_psnr, "lr_psnr_ground_truth": summary.ground_truth.lr_psnr,
            "sharpness_mean": srnam.mean.sharpness,
            "face_fd_mean": srnam.mean.realism_fd, "face_fd_ground_truth": summary.ground_truth.realism_fd,
            "face_fd_bicubic": summary.bicubic.realism_fd, "samples_face_fd": samples and samples.generator_face_fd,
            "samples_sharpness": samples and samples.generator_sharpness, "diversity": srnam.diversity,
            "faceness": faceness and faceness.generator_rate,
            "same_person_best": srnam.best.same_person,
            "hr_psnr_mean": srnam.mean.hr_psnr, "hr_psnr_best": srnam.best.hr_psnr}  # reported only
        print(name, dumps(table[name], indent=None), flush=True)
        write_json(out, {**settings, "snapshots": table}, indent=1)  # after each: safe to stop
    chosen = choose(table)
    write_json(out, {**settings, "snapshots": table, "selected": chosen}, indent=1)
    row = table[chosen]
    realism = "" if row["face_fd_mean"] is None else f", face FD {row['face_fd_mean']:.3f}"
    keep = f": no snapshot beats the generator of {args.compare_with}" if chosen == CURRENT else ""
    print(f"selected {chosen}{keep} (LR PSNR {row['lr_psnr_mean']:.2f} dB, sharpness {row['sharpness_mean']:.2f}"
          f"{realism}); table: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
