"""``srnam upscale``: super-resolve files, folders and globs, on one process or many.

For every input image a folder of results is written below ``--out``, mirroring the input's path below
the common folder of all inputs (so ``a/face.png`` and ``b/face.png`` do not collide)::

    OUT/a/face_png/candidate_01.png ...   the HR candidates, best LR consistency first
    OUT/a/face_png/projection_01.png ...  their LR projections D(G(z_k), n_k)
    OUT/a/face_png/lr_input.png           the 16×16 image the search matched
    OUT/a/face_png/reference.png          the 64×64 face crop (photo modes only)
    OUT/a/face_png/grid.png               the comparison grid
    OUT/a/face_png/result.json            settings, seed, per-candidate L1 and PSNR, timing

With ``--all-faces`` every face of each photo is searched, in one batch, and the photo comes back enlarged
(``--scale``) with each face replaced by its best candidate (``srnam.faces.photo``)::

    OUT/group_jpg/composed.png            the photo ×scale with the faces put back (seamless blend)
    OUT/group_jpg/faces.png               the photo with each face's square drawn and numbered
    OUT/group_jpg/face_01/...             per face, largest first: candidate_KK.png, projection_KK.png,
                                          lr_input.png, grid.png and uncertainty.png (where the candidates disagree)
    OUT/group_jpg/result.json             as above, with each face's box and scores

``--keep-faces 3,5`` leaves faces 3 and 5 (numbered as in faces.png) as the photo has them in composed.png: for a
detection that is not a face, or a face that should stay as it is. They are still searched and written. Run
again with the same ``--seed`` (and ``--overwrite``) to get the same faces with some of them kept.

result.json is written last, so an image whose result.json lists files that all exist is done and is
skipped on the next run (unless --overwrite). Under ``accelerate launch`` the images still to do are split
between the processes; the summary is gathered and printed once, and every process exits with its code.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from accelerate import PartialState
from accelerate.utils import gather_object, parse_flag_from_env
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .. import __version__
from ..errors import ModelLoadError, SRNAMError
from ..grid import candidate_grid
from ..jsonfile import write_json
from ..faces.lr_input import LR_MODES, make_lr_input
from ..images import lr_psnr
from ..faces.photo import (MAX_SCALE, PhotoResult, candidate_files, compose, enhance_photo, face_folder,
                           result_images)
from ..pipeline import DEFAULT_CHECKPOINT, SRNAMOutput, SRNAMPipeline
from ..seeds import image_seed
from .common import (FAILED, OK, USAGE, UsageError, add_lr_source_option, add_model_option, add_search_options,
                     int_between, load_pipeline, report_error, resolved_learning_rate, search_settings)

# Files a folder is searched for (explicit files and glob matches are taken whatever their name).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
RESULT = "result.json"


EXAMPLES = """
examples:
  srnam upscale faces/ --out results -k 8 -n 300 --seed 0
  srnam upscale "photos/**/*.jpg" --lr-mode degrade --model user/srnam-faces
  srnam upscale group.jpg --all-faces -k 4 -n 300 --scale 4 --seed 0
  srnam upscale group.jpg --all-faces -k 4 -n 300 --scale 4 --seed 0 --keep-faces 3 --overwrite
  accelerate launch --num_processes 4 -m srnam upscale faces/ --out results   # split over 4 GPUs

exit status: 0 all inputs done (or already done), 1 some inputs failed, 2 usage error (no inputs
matched, model missing or not loadable)."""


def face_numbers(text: str) -> tuple[int, ...]:
    """An argparse type: face numbers from 1, comma-separated (``--keep-faces 3,5``), sorted and unique."""
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"face numbers are whole numbers from 1, comma-separated (got {text!r})")
    if any(n < 1 for n in numbers):
        raise argparse.ArgumentTypeError(f"faces are numbered from 1, as in faces.png (got {text!r})")
    return tuple(sorted(set(numbers)))


class NoFaceError(SRNAMError):
    """No face was detected in a photo (photo LR modes, without --allow-no-face)."""


@dataclass(frozen=True)
class Job:
    path: Path  # the input file
    name: str  # its path below the common folder of the inputs, with "/": names the outputs, derives the seed
    out_dir: Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "upscale", help="super-resolve image files, folders and globs (several candidates each)",
        description=__doc__ + EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, folders (searched recursively) or glob patterns (quote them; ** recurses)")
    add_search_options(parser, candidates=8)
    parser.add_argument("--seed", type=int_between(0, 2**63 - 1),
                        help="base seed; each image's seed is derived from it and the image's name, so results do "
                             "not depend on the order or the number of processes (default: a random seed per "
                             "image, recorded in its result.json)")
    add_model_option(parser)
    add_lr_source_option(parser, "--lr-mode", LR_MODES, "auto",
                         "how the 16×16 input is made: as-is (already a small face), area or degrade (a photo: "
                         "detect and crop the face first; then area averaging, or the camera model), auto (as-is "
                         "up to 32 px, else degrade); downsample is the old spelling of area")
    parser.add_argument("--allow-no-face", action="store_true",
                        help="in photo modes, use the centre square of photos without a detected face instead of "
                             "reporting them as failed (with --all-faces: write the enlarged photo alone)")
    photo = parser.add_argument_group("whole photos")
    photo.add_argument("--all-faces", action="store_true",
                       help="search every face of each photo (one batch) and write the photo enlarged with the faces "
                            "put back; --lr-mode auto means degrade here (faces of 64 px and more go through the "
                            "camera model, smaller ones are area-averaged), as-is is not allowed")
    photo.add_argument("--scale", type=int_between(1, MAX_SCALE), default=4,
                       help="with --all-faces: how much larger the composed photo is (default 4)")
    photo.add_argument("--max-faces", type=int_between(1, 64), default=16,
                       help="with --all-faces: search at most this many faces, the largest (default 16)")
    photo.add_argument("--min-face", type=int_between(8, 4096), default=12,
                       help="with --all-faces: the smallest face width looked for, in pixels (default 12)")
    photo.add_argument("--keep-faces", type=face_numbers, default=(), metavar="N[,N...]",
                       help="with --all-faces: leave these faces (numbered as in faces.png, 1 the largest) as the "
                            "photo has them in composed.png, e.g. a detection that is not a face; they are still "
                            "searched and written")
    parser.add_argument("--out", type=Path, default=Path("srnam_out"), help="output folder (default srnam_out)")
    parser.add_argument("--overwrite", action="store_true", help="redo images that already have results")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # One process, or this process's rank and device under `accelerate launch`. PartialState only reads
    # accelerate's CPU flag when told (AcceleratorState does the same), and without it a CPU-only launch
    # would give every process the whole list.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    main = state.is_main_process
    try:
        if state.num_processes != int(os.environ.get("WORLD_SIZE", 1)):
            raise UsageError(f"launched as {os.environ['WORLD_SIZE']} processes but accelerate set up "
                             f"{state.num_processes}; on CPUs set ACCELERATE_USE_CPU=true")
        if args.all_faces and args.lr_mode == "as-is":
            raise UsageError("--all-faces finds the faces in photos: --lr-mode as-is does not apply")
        if args.keep_faces and not args.all_faces:
            raise UsageError("--keep-faces chooses among the faces of a photo: it needs --all-faces")
        jobs = plan_jobs(find_inputs(args.inputs, exclude=args.out), args.out)
    except UsageError as err:  # every process finds the same inputs, so all of them stop here
        if main:
            report_error("upscale", err)
        return USAGE

    # Every process checks which results exist before any process writes one, so all agree on the
    # list of images to do; only that list is split, which keeps the processes evenly loaded on a rerun.
    is_done = [not args.overwrite and _complete_result(job.out_dir) is not None for job in jobs]
    done = [job for job, d in zip(jobs, is_done) if d]
    todo = [job for job, d in zip(jobs, is_done) if not d]
    state.wait_for_everyone()

    pipe, load_error = None, None
    with state.main_process_first():  # the main process downloads a Hub model once, the others reuse the cache
        try:
            pipe = load_pipeline(args, device=state.device)
        except (ModelLoadError, UsageError) as err:  # caught here: the other processes wait on this block
            load_error = str(err)
    load_errors = [e for e in gather_object([load_error]) if e]
    if load_errors:
        if main:
            report_error("upscale", load_errors[0])
        return USAGE

    records = []
    with state.split_between_processes(todo) as mine:
        images = tqdm(mine, desc="images", unit="image", disable=not main, dynamic_ncols=True)
        for job in images:
            images.set_postfix_str(job.name)
            records.append(upscale_one(job, pipe, args, state, show_steps=main))
    if main:  # the skipped images are the same list on every process: count them once
        records += [{"name": job.name, "status": "skipped"} for job in done]
    records = gather_object(records)
    if main:
        print_summary(records, args.out, state.num_processes)
    return FAILED if any(r["status"] == "failed" for r in records) else OK


# ---------------------------------------------------------------------- finding the inputs
def find_inputs(patterns: list[str], exclude: Path) -> list[tuple[Path, Path]]:
    """(file, root) for every input file, sorted and without duplicates. ``root`` is the folder the file was
    found from: the output names are the files' paths below the common folder of all roots.

    Folders are searched recursively for ``IMAGE_SUFFIXES`` files, skipping hidden files (e.g. macOS's
    ``._face.png``) and anything inside ``exclude`` (the output folder, so results are never re-read).
    """
    exclude = Path(os.path.abspath(exclude))
    found: dict[Path, Path] = {}
    unmatched = []
    for pattern in patterns:
        is_glob = not os.path.exists(pattern) and any(c in pattern for c in "*?[")
        paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True)) if is_glob else [Path(pattern)]
        before = len(found)
        for path in (Path(os.path.abspath(p)) for p in paths):
            if path.is_dir():
                for file in sorted(path.rglob("*")):
                    if (file.suffix.lower() in IMAGE_SUFFIXES and file.is_file() and exclude not in file.parents
                            and not any(part.startswith(".") for part in file.relative_to(path).parts)):
                        found.setdefault(file, path)
            elif path.is_file() and not (is_glob and exclude in path.parents):
                found.setdefault(path, path.parent)
        if len(found) == before:
            unmatched.append(pattern)
    if unmatched:
        raise UsageError("no image files found for: " + ", ".join(unmatched))
    return sorted(found.items())


def plan_jobs(inputs: list[tuple[Path, Path]], out: Path) -> list[Job]:
    """One job per file; its outputs go to OUT/<path below the common root>, ``face.png`` → ``face_png/``."""
    common = Path(os.path.commonpath([root for _, root in inputs]))
    jobs = []
    for file, _ in inputs:
        name = file.relative_to(common)
        folder = name.stem + "_" + name.suffix[1:] if name.suffix else name.name
        jobs.append(Job(file, name.as_posix(), out / name.parent / folder))
    clashes = len(jobs) - len({job.out_dir for job in jobs})
    if clashes:  # only files without an extension next to e.g. face.png can meet here
        raise UsageError(f"{clashes} inputs would write to the same output folder; rename them")
    return jobs


# ---------------------------------------------------------------------- one image
def upscale_one(job: Job, pipe: SRNAMPipeline, args: argparse.Namespace, state: PartialState,
                show_steps: bool) -> dict:
    """Run one image and write its results; a failure is returned as a record, never raised."""
    start = time.perf_counter()
    seed = image_seed(args.seed, job.name) if args.seed is not None else secrets.randbelow(2**31)
    try:
        if args.all_faces:
            return upscale_photo(job, pipe, args, state, show_steps, seed, start)
        lr = make_lr_input(job.path, args.lr_mode, pipe.degradation, noise_seed=seed)
        if lr.face_found is False and not args.allow_no_face:
            raise NoFaceError("no face found (pass --allow-no-face to use the centre square, "
                              "or --lr-mode as-is if the image is already a face crop)")
        search_start = time.perf_counter()
        with _step_bar(args.steps, show_steps) as progress:
            (out,) = pipe.run([lr.lr], search_settings(args, seed), progress)
        save_results(job, out, lr.reference, start, {
            **_common_info(job, args, seed, pipe, state), "lr_mode": lr.mode, "face_found": lr.face_found,
            **_framing_info(lr.framing),
            "seconds": {"search": round(time.perf_counter() - search_start, 3)},  # "total" adds reading and saving
        })
        return {"name": job.name, "status": "done", "face_found": lr.face_found}
    except (SRNAMError, OSError, ValueError) as err:  # bad or unreadable file, no face, full disk: this input only
        reason = str(err).removeprefix(f"{job.path}: ")
    except Exception as err:  # a bug or e.g. out of GPU memory: keep going, but show where it came from
        traceback.print_exc()
        reason = f"unexpected {type(err).__name__}: {err}"
    where = f"[process {state.process_index}] " if state.num_processes > 1 else ""
    tqdm.write(f"{where}failed: {job.name}: {reason}")
    return {"name": job.name, "status": "failed", "reason": reason}


class _step_bar:
    """A tqdm bar of search steps whose ``progress`` is the pipeline's callback."""

    def __init__(self, total: int, show: bool):
        self.bar = tqdm(total=total, desc="steps", unit="step", leave=False, disable=not show, dynamic_ncols=True)

    def __enter__(self):
        return self.progress

    def __exit__(self, *exc):
        self.bar.close()

    def progress(self, search_state) -> None:
        self.bar.update()
        self.bar.set_postfix_str(f"best L1 {search_state.l1.min().item():.3f}")


def _framing_info(framing) -> dict:
    """result.json's record of the square searched: ``aligned`` and, when it was, the turned square in the photo."""
    return {"aligned": framing is not None, "framing": None if framing is None else {
        "angle_degrees": round(framing.angle, 2), "side": round(framing.side, 2),
        "corners": [[round(v, 2) for v in corner] for corner in framing.corners()]}}


def _common_info(job: Job, args: argparse.Namespace, seed: int, pipe: SRNAMPipeline, state: PartialState) -> dict:
    return {"input": str(job.path), "name": job.name, "srnam_version": __version__, "settings": _settings(args, pipe),
            "seed": seed, "device": str(pipe.device),
            "process": {"index": state.process_index, "count": state.num_processes}}


def upscale_photo(job: Job, pipe: SRNAMPipeline, args: argparse.Namespace, state: PartialState, show_steps: bool,
                  seed: int, start: float) -> dict:
    """``--all-faces``: every face of the photo in one search, the composed photo and a folder per face."""
    lr_mode = "degrade" if args.lr_mode == "auto" else args.lr_mode
    search_start = time.perf_counter()
    with _step_bar(args.steps, show_steps) as progress:
        result = enhance_photo(pipe, job.path, search=search_settings(args, seed), scale=args.scale,
                               min_face=args.min_face, max_faces=args.max_faces, lr_mode=lr_mode, callback=progress)
    if not result.faces and not args.allow_no_face:
        raise NoFaceError(f"no face found (faces of {result.smallest_face} px and more were looked for; pass "
                          f"--allow-no-face to write the enlarged photo anyway)")
    kept = [n for n in args.keep_faces if n <= len(result.faces)]
    missing = [n for n in args.keep_faces if n > len(result.faces)]
    for number in kept:
        result.choices[number - 1] = None
    if kept:
        result.composed = compose(result)
    save_photo_results(job, result, start, {
        **_common_info(job, args, seed, pipe, state), "lr_mode": lr_mode,
        "seconds": {"search": round(time.perf_counter() - search_start, 3)},
    })
    record = {"name": job.name, "status": "done", "faces": len(result.faces), "faces_found": result.faces_found,
              "limits_applied": result.limits_applied()}
    if missing:
        record["keep_faces_missing"] = missing
    return record


def save_photo_results(job: Job, result: PhotoResult, start: float, info: dict) -> None:
    """Write ``result_images`` (a folder per face), then result.json with every face's box and scores, last."""
    _remove_old_result(job.out_dir)
    images = result_images(result)
    faces = []
    for number, (face, choice) in enumerate(zip(result.faces, result.choices), 1):
        folder = face_folder(number)
        (job.out_dir / folder).mkdir(parents=True, exist_ok=True)
        faces.append({
            "folder": folder, "box": list(face.box), "crop_box": list(face.crop_box), **_framing_info(face.framing),
            "mean_uncertainty": round(float(np.asarray(face.uncertainty, np.float32).mean() / 255), 4),
            "candidates": [{**candidate_files(k, folder), "lr_l1": round(l1, 6), "lr_psnr_db": round(db, 3)}
                           for k, (l1, db) in enumerate(zip(face.output.lr_l1, face.lr_psnr), 1)],
            # the candidate in composed.png (from 1), or null: the photo's own pixels kept (--keep-faces)
            "chosen_candidate": None if choice is None else choice + 1,
        })
    job.out_dir.mkdir(parents=True, exist_ok=True)
    for filename, image in images.items():
        image.save(job.out_dir / filename)
    info["seconds"]["total"] = round(time.perf_counter() - start, 3)
    write_json(job.out_dir / RESULT, {
        **info, "scale": result.scale, "photo_size": list(result.photo.size),
        "composed_size": list(result.composed.size), "faces_found": result.faces_found,
        "faces_searched": len(result.faces), "smallest_face": result.smallest_face,
        "limits_applied": result.limits_applied(), "chosen": "best LR consistency",
        "kept_faces": [n for n, choice in enumerate(result.choices, 1) if choice is None],
        "faces": faces, "files": sorted(images)})


def save_results(job: Job, out: SRNAMOutput, reference: Image.Image | None, start: float, info: dict) -> None:
    """Write the images, then result.json (``info`` plus the candidates' scores and the file list) last."""
    _remove_old_result(job.out_dir)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    images = {"lr_input.png": out.lr_input, "grid.png": candidate_grid(
        out.hr_candidates, out.lr_projections, out.lr_input, out.lr_l1, reference=reference)}
    if reference is not None:
        images["reference.png"] = reference
    candidates = []
    scores = zip(out.hr_candidates, out.lr_projections, out.lr_l1, lr_psnr(out))
    for k, (hr, projection, l1, db) in enumerate(scores, start=1):
        names = candidate_files(k)
        images[names["hr"]], images[names["lr_projection"]] = hr, projection
        candidates.append({**names, "lr_l1": round(l1, 6), "lr_psnr_db": round(db, 3)})
    for filename, image in images.items():
        image.save(job.out_dir / filename)

    info["seconds"]["total"] = round(time.perf_counter() - start, 3)
    result = {**info, "candidates": candidates, "files": sorted(images)}
    write_json(job.out_dir / RESULT, result)  # atomic: a result.json is never half written


def _settings(args: argparse.Namespace, pipe: SRNAMPipeline) -> dict:
    settings = {"model": args.model or str(DEFAULT_CHECKPOINT), "num_candidates": args.candidates,
                "num_steps": args.steps, "learning_rate": resolved_learning_rate(args, pipe),
                "latent_space": args.latent_space,
                "latent_constraint": args.latent_constraint, "lr_mode": args.lr_mode,
                "base_seed": args.seed, "allow_no_face": args.allow_no_face}
    if args.all_faces:
        settings.update(all_faces=True, scale=args.scale, max_faces=args.max_faces, min_face=args.min_face,
                        keep_faces=list(args.keep_faces))
    return settings


def _complete_result(out_dir: Path) -> dict | None:
    """The image's result.json if it and every file it lists exist, else None."""
    try:
        result = json.loads((out_dir / RESULT).read_text(encoding="utf-8"))
        complete = all((out_dir / name).is_file() for name in result["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return result if complete else None


# What save_results writes into an image's folder. A run killed while writing leaves some of these and no
# result.json (so no list of them): they are found by name, so that a rerun with fewer candidates does not
# leave the killed run's extra candidates beside its own.
OUTPUT_PATTERNS = ("candidate_*.png", "projection_*.png", "lr_input.png", "grid.png", "reference.png",
                   "composed.png", "faces.png", "face_*/*.png", RESULT + ".tmp")


def _remove_old_result(out_dir: Path) -> None:
    """Before redoing an image, delete its old result.json first (so an interrupted redo is not taken for
    done), then the files it listed and any other output file: a folder holds one run's files only."""
    try:
        old = json.loads((out_dir / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    (out_dir / RESULT).unlink(missing_ok=True)
    for name in old.get("files", []) if isinstance(old, dict) else []:
        if isinstance(name, str) and _is_own_file(name):
            (out_dir / name).unlink(missing_ok=True)
    for pattern in OUTPUT_PATTERNS if out_dir.is_dir() else ():
        for stale in out_dir.glob(pattern):
            if stale.is_file():
                stale.unlink()
    for folder in out_dir.glob("face_*/") if out_dir.is_dir() else ():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _is_own_file(name: str) -> bool:
    """A name result.json may list: a file of the image's folder, or of one of its face_NN folders."""
    parts = name.split("/")
    return "\\" not in name and all(parts) and ".." not in parts and (
        len(parts) == 1 or (len(parts) == 2 and parts[0].startswith("face_")))


# ---------------------------------------------------------------------- summary
def print_summary(records: list[dict], out: Path, num_processes: int) -> None:
    count = {status: sum(r["status"] == status for r in records) for status in ("done", "skipped", "failed")}
    across = f" across {num_processes} processes" if num_processes > 1 else ""
    print(f"\n{len(records)} inputs{across}: {count['done']} done, {count['skipped']} skipped (already done; "
          f"--overwrite redoes them), {count['failed']} failed")
    no_face = sorted(r["name"] for r in records if r["status"] == "done" and r.get("face_found") is False)
    if no_face:
        print(f"no face found, centre square used ({len(no_face)}): " + ", ".join(no_face))
    limited = sorted((r for r in records if r.get("limits_applied")), key=lambda r: r["name"])
    if limited:  # --all-faces: what the search left out of a photo (also in its result.json)
        print("left out of the search (--max-faces, --min-face):")
        for record in limited:
            print(f"  {record['name']}: " + "; ".join(record["limits_applied"]))
    missing = sorted((r for r in records if r.get("keep_faces_missing")), key=lambda r: r["name"])
    if missing:  # --keep-faces numbers beyond a photo's faces: the rest of that photo was done
        print("--keep-faces: no such face (faces.png numbers the faces searched):")
        for record in missing:
            print(f"  {record['name']}: " + ", ".join(map(str, record["keep_faces_missing"])) +
                  f" (it has {record['faces']})")
    failed = sorted((r for r in records if r["status"] == "failed"), key=lambda r: r["name"])
    if failed:
        print("failed:")
        for record in failed:
            print(f"  {record['name']}: {record['reason']}")
    print(f"results: {out}")
