"""Build SR-NAM's two training domains from a folder of photos.

The sorted source files are split (randomly, by --seed) into two DISJOINT parts, so that the degradation
model never sees the HR face an LR image was made from:

  OUT/hr/NAME.png   HR faces: cropped per --crop, resized to --hr-size (the generator's domain);
  OUT/lr/NAME.png   the "real-world" LR domain: cropped the same way, then degraded to --lr-size by a
                    random srnam.training.data.RealisticDegradation chain (seeded per file by --seed and its name);
  OUT/hr/latents.npy  with --latents: the source latents of the HR files, row i for the i-th sorted
                    OUT/hr/*.png (source row i belongs to the i-th sorted source file);
  OUT/prepare_report.json  what was written and what was skipped, and why.

Crops (--crop): "face" detects the largest face (OpenCV Haar cascade) and cuts the training framing
around it (srnam.faces.detect.face_crop_box); images without a face are skipped. "corpus" cuts the fixed box of
the faces128 corpus (srnam.faces.framing.CORPUS_BOX). "centre" takes the centre square (photos that are already
face crops). Crops smaller than --hr-size are skipped as too small (they would be upsampled).

Files that are not images, truncated, or smaller than 16×16 are skipped with their reason. The exit status
is 0 when both parts (or the one part that --lr-fraction asks for) got images, even with skips, and 1
when a part ended empty.
"""
from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from srnam.faces import detect, framing
from srnam.training.data import RealisticDegradation
from srnam.errors import InvalidImageError
from srnam.images import open_image

EPILOG = """examples:
  # the faces128 corpus (fixed framing), with the generator latents of the HR part:
  python train/prepare_data.py ../shared/data/faces128/train data/faces128 --crop corpus \\
      --latents ../shared/data/faces128/train_latents.npy
  # any folder of photos: detect the faces, a quick test on the first 200 files:
  python train/prepare_data.py photos/ data/photos --crop face --limit 200
"""
CROPS = ("face", "centre", "corpus")
OUTPUT_FILES = ("*.png", "latents.npy")  # what this script writes into OUT/hr and OUT/lr


class Skip(Exception):
    """A source file that cannot be used: ``reason`` is a short category, the message says more."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Job:
    index: int  # position among the sorted source files (= the row of --latents)
    source: Path
    part: str  # "hr" or "lr"
    out_name: str


@dataclass(frozen=True)
class Options:
    crop: str
    hr_size: int
    seed: int
    degradation: RealisticDegradation
    out: Path


def crop_source(path: Path, crop: str, hr_size: int) -> tuple[Image.Image, bool]:
    """The hr_size×hr_size crop of ``path`` and whether its box had to be padded; raises Skip."""
    try:
        image = open_image(path, square=crop != "face")  # a face need not be in the centre
    except InvalidImageError as err:
        raise Skip(err.reason, str(err)) from err
    padded = False
    if crop == "face":
        box, found = detect.face_crop_box(image)
        if not found:
            raise Skip("no face found", f"{path}: no face found")
        side = box[2] - box[0]
        padded = box[0] < 0 or box[1] < 0 or box[2] > image.width or box[3] > image.height
        make = functools.partial(framing.crop_resized, image, box, hr_size)
    elif crop == "corpus":
        side = round((framing.CORPUS_BOX[2] - framing.CORPUS_BOX[0]) * image.width / framing.CORPUS_SIZE)
        make = functools.partial(framing.crop_corpus, image, hr_size)
    else:
        side = image.width
        make = functools.partial(framing.crop_centre, image, hr_size)
    if side < hr_size:
        raise Skip("too small", f"{path}: the {crop} crop is {side}×{side} px, smaller than --hr-size {hr_size}")
    return make(), padded


def process(job: Job, options: Options) -> dict:
    """Crop (and for the LR part degrade) one source file and write it; never raises for bad input."""
    result = {"index": job.index, "source": job.source.name, "part": job.part}
    try:
        image, result["padded"] = crop_source(job.source, options.crop, options.hr_size)
    except Skip as skip:
        return {**result, "reason": skip.reason, "detail": str(skip)}
    if job.part == "lr":
        image = options.degradation(image, random.Random(f"{options.seed}/{job.source.name}"))
    image.save(options.out / job.part / job.out_name)
    return {**result, "written": job.out_name}


def output_names(sources: list[Path]) -> list[str]:
    """NAME.png for each source; sources that share a stem (a.jpg, a.png) keep their extension too."""
    stems = Counter(path.stem for path in sources)
    return [f"{p.stem}.png" if stems[p.stem] == 1 else f"{p.stem}_{p.suffix.lstrip('.')}.png" for p in sources]


def split(count: int, lr_fraction: float, seed: int) -> list[str]:
    """The part ("hr" or "lr") of each of ``count`` sources: round(count × lr_fraction) random ones are LR."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    lr = set(order[:round(count * lr_fraction)])
    return ["lr" if i in lr else "hr" for i in range(count)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, metavar="SRC", help="folder of photos (not recursive)")
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder (hr/, lr/, prepare_report.json)")
    parser.add_argument("--hr-size", type=int, default=64, help="side of the HR faces (default 64)")
    parser.add_argument("--lr-size", type=int, default=16, help="side of the LR images (default 16)")
    parser.add_argument("--crop", choices=CROPS, default="face", help="how to cut the face (default face)")
    parser.add_argument("--lr-fraction", type=float, default=0.5,
                        help="fraction of the sources that go to the LR part (default 0.5)")
    parser.add_argument("--latents", type=Path, metavar="FILE.npy",
                        help="[N_sources, latent_size] array, row i for the i-th sorted source file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the degradations (default 0)")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N sorted source files")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes (default: one per CPU core)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete earlier outputs (*.png, latents.npy) in OUT/hr and OUT/lr first")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        parser.error(f"SRC {args.src} is not a folder")
    if not 0.0 <= args.lr_fraction <= 1.0:
        parser.error("--lr-fraction must be between 0 and 1")
    if args.lr_size < 1 or args.hr_size < args.lr_size:
        parser.error("need 1 <= --lr-size <= --hr-size")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    started = time.perf_counter()

    latents_file = args.latents.resolve() if args.latents else None
    sources = sorted((p for p in args.src.iterdir()
                      if p.is_file() and not p.name.startswith(".") and p.resolve() != latents_file),
                     key=lambda p: p.name)
    latents = None
    if args.latents:
        latents = np.load(args.latents, mmap_mode="r")  # [N_sources, latent_size]
        if latents.ndim != 2 or latents.shape[0] != len(sources):
            parser.error(f"--latents {args.latents} has shape {list(latents.shape)}, but {args.src} holds "
                         f"{len(sources)} files: it needs one row per sorted source file")
    sources = sources[:args.limit]
    if not sources:
        parser.error(f"SRC {args.src} holds no files")

    for part in ("hr", "lr"):
        folder = args.out / part
        old = [p for pattern in OUTPUT_FILES for p in folder.glob(pattern)] if folder.is_dir() else []
        if old and not args.overwrite:
            parser.error(f"{folder} already holds {len(old)} output files: pass --overwrite or another OUT")
        for path in old:
            path.unlink()
        folder.mkdir(parents=True, exist_ok=True)

    parts = split(len(sources), args.lr_fraction, args.seed)
    jobs = [Job(i, path, part, name) for i, (path, part, name) in enumerate(zip(sources, parts, output_names(sources)))]
    options = Options(args.crop, args.hr_size, args.seed, RealisticDegradation(lr_size=args.lr_size), args.out)
    work = functools.partial(process, options=options)
    workers = max(1, min(args.workers, len(jobs)))
    if workers == 1:
        results = [work(job) for job in jobs]
    else:
        # spawn, not fork: a process forked after OpenCV or torch started their thread pools can hang.
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            results = list(pool.imap(work, jobs, chunksize=max(1, min(64, len(jobs) // (4 * workers)))))

    written = {part: sorted((r for r in results if r["part"] == part and "written" in r), key=lambda r: r["written"])
               for part in ("hr", "lr")}
    if latents is not None and written["hr"]:
        rows = np.asarray(latents[[r["index"] for r in written["hr"]]], dtype=np.float32)  # [N_hr, latent_size]
        np.save(args.out / "hr" / "latents.npy", rows)
    skipped = [r for r in results if "reason" in r]
    report = {
        "source": str(args.src), "out": str(args.out),
        "options": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "sources": len(sources),
        "written": {part: len(rows) for part, rows in written.items()},
        "padded_crops": sum(bool(r.get("padded")) for r in results if "written" in r),
        "latents": (str(args.out / "hr" / "latents.npy") if latents is not None and written["hr"] else None),
        "skipped": len(skipped),
        "skipped_by_reason": dict(Counter(r["reason"] for r in skipped).most_common()),
        "skipped_files": [{"source": r["source"], "part": r["part"], "reason": r["reason"], "detail": r["detail"]}
                          for r in skipped],
        "files": {part: [{"source": r["source"], "written": r["written"]} for r in rows]
                  for part, rows in written.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "prepare_report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    _print_summary(report, args)

    wanted = [part for part, share in (("hr", 1 - args.lr_fraction), ("lr", args.lr_fraction))
              if round(len(sources) * share) > 0]
    empty = [part for part in wanted if not written[part]]
    if empty:
        print(f"error: no usable image in the {' and '.join(empty)} part", file=sys.stderr)
        return 1
    return 0


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already


def _print_summary(report: dict, args: argparse.Namespace) -> None:
    print(f"{report['sources']} source files in {report['seconds']} s: wrote {report['written']['hr']} HR faces "
          f"({args.hr_size}×{args.hr_size}) to {args.out / 'hr'} and {report['written']['lr']} LR images "
          f"({args.lr_size}×{args.lr_size}) to {args.out / 'lr'}")
    if report["latents"]:
        print(f"latents of the HR faces: {report['latents']}")
    if report["padded_crops"]:
        print(f"{report['padded_crops']} face crops reached past the image border and were reflection-padded")
    print(f"skipped {report['skipped']} files" + (":" if report["skipped"] else ""))
    for reason, count in report["skipped_by_reason"].items():
        examples = [r["source"] for r in report["skipped_files"] if r["reason"] == reason][:3]
        print(f"  {count:6d} {reason} (e.g. {', '.join(examples)})")
    print(f"report: {args.out / 'prepare_report.json'}")


if __name__ == "__main__":
    sys.exit(main())
