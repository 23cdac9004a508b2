"""Pick the generator snapshot of a ProGAN run by its results on held-out faces, not by the last step.

examples:
  python train/select_checkpoint.py runs/progan runs/degradation ../shared/data/faces128/dev --skip 400 --limit 48

Every snapshot in GENERATOR_RUN/snapshots/ (written in the last stage by --snapshot-every) is paired with the
degradation run's export and evaluated like ``srnam evaluate`` does: LR inputs made from the faces by the
degradation model, K candidates × N steps. It also checks how often the face detector finds a face in
random samples. The table goes to the terminal and OUT (default GENERATOR_RUN/selection.json); the best
snapshot by mean-of-K HR PSNR (what a user gets on average, not just the luckiest candidate) is named last.
Select on faces that the final evaluation does not use (--skip). Run it again while the run goes on: the
snapshots already measured with the same settings are kept, only new ones are evaluated.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from srnam import SRNAMPipeline
from srnam.evaluate import evaluate, load_faces
from srnam.models import DegradationGenerator, ProGANGenerator

CRITERION = ("mean", "hr_psnr")  # summary["srnam"]["mean"]["hr_psnr"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generator_run", type=Path, help="run folder of train/train_progan.py")
    parser.add_argument("degradation_run", type=Path, help="run folder of train/train_degradation.py (exported)")
    parser.add_argument("faces", type=Path, help="folder of held-out portraits (corpus framing)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N faces (sorted by name)")
    parser.add_argument("--limit", type=int, default=48, help="faces to evaluate after the skipped ones")
    parser.add_argument("-k", "--candidates", type=int, default=8)
    parser.add_argument("-n", "--steps", type=int, default=300)
    parser.add_argument("--faceness", type=int, default=200, help="random samples for the face-detection rate")
    parser.add_argument("--out", type=Path, help="default: GENERATOR_RUN/selection.json")
    args = parser.parse_args(argv)

    snapshots = sorted((args.generator_run / "snapshots").glob("step-*"))
    if not snapshots:
        print(f"error: no snapshots in {args.generator_run / 'snapshots'} (train with --snapshot-every)",
              file=sys.stderr)
        return 1
    names, hr, _ = load_faces(args.faces, "corpus", args.skip + args.limit)
    names, hr = names[args.skip:], hr[args.skip:]
    degradation = DegradationGenerator.from_folder(args.degradation_run / "export" / "degradation")
    out = args.out or args.generator_run / "selection.json"
    settings = {"faces": f"{args.faces} [{args.skip}:{args.skip + len(names)}]", "candidates": args.candidates,
                "steps": args.steps, "faceness_samples": args.faceness, "criterion": "mean-of-K HR PSNR"}
    table = {}
    if out.is_file():  # a run still training: snapshots measured before with the same settings are kept
        previous = json.loads(out.read_text())
        if {key: previous.get(key) for key in settings} == settings:
            table = previous["snapshots"]
    for snapshot in snapshots:
        if snapshot.name in table:
            continue
        pipe = SRNAMPipeline(ProGANGenerator.from_folder(snapshot / "generator"), degradation)
        results = evaluate(pipe, names, hr, "degradation", args.candidates, args.steps, batch_faces=8,
                           faceness_samples=args.faceness)
        srnam = results["summary"]["srnam"]
        table[snapshot.name] = {"hr_psnr_mean": srnam["mean"]["hr_psnr"], "hr_psnr_best": srnam["best"]["hr_psnr"],
                                "hr_ssim_mean": srnam["mean"]["hr_ssim"], "lr_psnr_mean": srnam["mean"]["lr_psnr"],
                                "diversity": srnam["diversity"], "faceness": results["faceness"]["generator_rate"]}
        print(snapshot.name, json.dumps(table[snapshot.name]), flush=True)
        out.write_text(json.dumps({**settings, "snapshots": table}, indent=1))  # after each: safe to stop
    best = max(table, key=lambda name: table[name]["hr_psnr_mean"])
    out.write_text(json.dumps({**settings, "snapshots": table, "selected": best}, indent=1))
    print(f"selected {best} (mean-of-{args.candidates} HR PSNR {table[best]['hr_psnr_mean']:.2f} dB); table: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
