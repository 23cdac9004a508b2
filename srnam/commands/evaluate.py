"""``srnam evaluate``: the command-line front end of :mod:`srnam.evaluation.run` (a folder of HR faces in, the
figures and plots out)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..errors import ModelLoadError
from ..evaluation.run import (CROPS, DEFAULT_BATCH_FACES, DEFAULT_FACENESS_SAMPLES, DEFAULT_REFERENCE_FACES,
                              OLD_CROP_NAMES, REAL_FACE_SETS, evaluate, load_faces, load_real_faces)
from ..evaluation.progress import BatchStore, weights_digest
from ..evaluation.report import markdown_table, write_outputs
from ..evaluation.run import __doc__ as EVALUATION_DOC
from ..pipeline import DEFAULT_CHECKPOINT
from ..faces.lr_sources import LR_SOURCES
from ..faces.pose import Pose, framing_summary
from ..search import DEFAULT_NOISE_LEARNING_RATE
from .common import (OK, USAGE, UsageError, add_lr_source_option, add_model_option, add_search_options,
                     int_between, learning_rate, load_pipeline, new_spelling, report_error, resolved_learning_rate,
                     search_settings)


UNFINISHED = "unfinished"  # the folder in --out that holds the finished batches of a running evaluation
BATCH_SETTINGS = ("hr_folder", "lr_source", "crop", "num_candidates", "num_steps", "learning_rate", "align", "rotate",
                  "seed", "batch_faces", "latent_space", "latent_constraint", "optimize_noise", "noise_learning_rate")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="measure SR-NAM on a folder of HR faces (fidelity, diversity, landmarks, identity, baselines)",
        description=EVALUATION_DOC + "\nexample:\n  srnam evaluate ../shared/data/faces128/dev --limit 50 --out eval",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hr_folder", type=Path, metavar="HR_FOLDER", nargs="?",
                        help="folder of HR face images (not recursive); or --real lfw")
    parser.add_argument("--real", choices=REAL_FACE_SETS,
                        help="real faces instead of HR_FOLDER (from scikit-image: the metrics extra): lfw, the 100 "
                             "faces of its LFW subset (25×25 grey photos of real people; use --lr-source area); "
                             "astronaut, NASA's portrait of Eileen Collins (public domain)")
    add_model_option(parser)
    add_lr_source_option(parser, "--lr-source", LR_SOURCES, "degrade",
                         "how the LR inputs are made from the HR faces: degrade (the camera model, with a seeded "
                         "noise per face), area, bicubic or synthetic (the training data's LR synthesiser); "
                         "degradation is the old spelling of degrade (default degrade)")
    add_search_options(parser, candidates=8, what="face")
    parser.add_argument("--limit", type=int_between(1, 10**9), help="evaluate only the first N faces (sorted by name)")
    parser.add_argument("--crop", type=new_spelling(OLD_CROP_NAMES), choices=CROPS, default="corpus",
                        help="corpus: faces128-style portraits, cut with the training framing; centre (old "
                             "spelling: none): the images are face crops already (centre square, resized to 64) "
                             "(default corpus)")
    parser.add_argument("--align", action="store_true",
                        help="align each face onto the corpus's landmarks before it is searched, as the app and "
                             "srnam upscale do (dlib's 5 landmarks, a similarity warp; default: the framing square "
                             "as it is)")
    parser.add_argument("--rotate", type=angle_range, metavar="MIN,MAX",
                        help="a pose-varied set: tilt each HR_FOLDER portrait first by a seeded angle of MIN to MAX "
                             "degrees either way, about its framing square's centre (e.g. 10,40); the results "
                             "record how close each searched crop comes to the upright face's")
    parser.add_argument("--out", type=Path, default=Path("srnam_eval"), help="output folder (default srnam_eval)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with an unfinished evaluation in --out: each batch of faces is saved as it "
                             "finishes (OUT/unfinished/), and the batches done are not searched again; the same "
                             "settings and model are needed")
    parser.add_argument("--seed", type=int_between(0, 2**63 - 1), default=0,
                        help="seed of the LR inputs and the search (default 0)")
    parser.add_argument("--batch-faces", type=int_between(1, 4096), default=DEFAULT_BATCH_FACES,
                        help=f"faces searched in one batch (default {DEFAULT_BATCH_FACES}); results depend on it")
    parser.add_argument("--faceness", type=int_between(0, 100_000), default=DEFAULT_FACENESS_SAMPLES,
                        help="random generator samples checked by the face detector (default "
                             f"{DEFAULT_FACENESS_SAMPLES}; 0: skip)")
    parser.add_argument("--reference", type=Path, metavar="FOLDER",
                        help="real faces for the realism figures, disjoint from HR_FOLDER's (same --crop), e.g. "
                             "the training split; without it realism is not computed")
    parser.add_argument("--reference-limit", type=int_between(2, 10**6), default=DEFAULT_REFERENCE_FACES,
                        help=f"reference faces (default {DEFAULT_REFERENCE_FACES}); the next --faceness ones of "
                             "the folder give the real-face floor for the random samples")
    parser.add_argument("--optimize-noise", action="store_true",
                        help="search the degradation model's noise together with the latents")
    parser.add_argument("--noise-lr", type=learning_rate, default=DEFAULT_NOISE_LEARNING_RATE,
                        help="the noise's Adam learning rate with --optimize-noise "
                             f"(default {DEFAULT_NOISE_LEARNING_RATE})")
    parser.set_defaults(run=run)


def angle_range(text: str) -> tuple[float, float]:
    """``MIN,MAX`` in degrees, as ``srnam.faces.pose.Pose`` takes them (argparse type)."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be two angles in degrees, MIN,MAX (e.g. 10,40), got {text!r}") from None
    try:
        return Pose(rotate=(low, high)).rotate  # the pose's own check
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    model = args.model or str(DEFAULT_CHECKPOINT)  # recorded in the results
    try:
        if (args.hr_folder is None) == (args.real is None):
            raise ValueError("give HR_FOLDER or --real (one of them)")
        pose = Pose(align=args.align, rotate=args.rotate, seed=args.seed)
        if args.real:
            names, hr, skipped, framing = load_real_faces(args.real, args.limit, pose)
        else:
            names, hr, skipped, framing = load_faces(args.hr_folder, args.crop, args.limit, pose)
        reference = None
        if args.reference is not None:
            if args.hr_folder is not None and args.reference.resolve() == args.hr_folder.resolve():
                raise ValueError("--reference must be a folder of other faces than HR_FOLDER's (disjoint sets)")
            reference = load_faces(args.reference, args.crop, args.reference_limit + args.faceness)[1]
        pipe = load_pipeline(args)  # None: the shipped default, or why it is missing
    except (ValueError, FileNotFoundError, ModelLoadError, UsageError) as err:
        report_error("evaluate", err)
        return USAGE
    crop = f"as the {args.real} set comes" if args.real else args.crop  # --crop applies to HR_FOLDER only
    settings = {"hr_folder": f"real:{args.real}" if args.real else str(args.hr_folder), "model": model,
                "lr_source": args.lr_source, "crop": crop,
                "num_candidates": args.candidates, "num_steps": args.steps, "learning_rate": resolved_learning_rate(args, pipe),
                "align": args.align, "rotate": None if args.rotate is None else list(args.rotate),
                "seed": args.seed, "batch_faces": args.batch_faces, "limit": args.limit,
                "reference": None if args.reference is None else str(args.reference),
                "reference_limit": args.reference_limit, "latent_space": args.latent_space,
                "latent_constraint": args.latent_constraint,
                "optimize_noise": args.optimize_noise,
                "noise_learning_rate": args.noise_lr}
    batch_settings = {key: settings[key] for key in BATCH_SETTINGS}  # what the searched batches depend on
    batch_settings.update(faces=names, weights=weights_digest(pipe.generator, pipe.degradation))
    try:
        store = BatchStore(args.out / UNFINISHED, batch_settings, resume=args.resume)
    except ValueError as err:
        report_error("evaluate", err)
        return USAGE
    done = len(store.finished())
    if done:
        print(f"resuming: {done} batches of {args.batch_faces} faces were done before")
    results = evaluate(pipe, names, hr, lr_source=args.lr_source, search=search_settings(args, args.seed),
                       batch_faces=args.batch_faces, faceness_samples=args.faceness, reference=reference,
                       reference_faces=args.reference_limit, store=store)
    results.srnam_version, results.settings, results.skipped = __version__, settings, skipped
    if not pose.upright:
        results.framing = framing_summary(framing, pose)
    write_outputs(results, args.out)
    store.remove()
    print(markdown_table(results))
    for what, reason in results.not_computed.items():
        print(f"not computed: {what}: {reason}")
    print(f"results: {args.out}")
    return OK


