"""The uncertainty map's scale, measured: how far the candidates of a search spread, pixel by pixel.

    python benchmarks/uncertainty_scale.py                         # 24 dev faces and the demo crowd, 4 × 300
    python benchmarks/uncertainty_scale.py --faces 100 -k 8

The map (``srnam.faces.photo.uncertainty_map``) shows the candidates' per-pixel standard deviation (mean over the
colour channels, on [0, 1]): black up to ``UNCERTAINTY_BLACK``, then red to yellow, yellow from
``UNCERTAINTY_FULL_SCALE`` on. The scale is fixed, so that two faces' maps can be compared, and is chosen from
the spread measured here: black for the quarter of pixels where the candidates agree most (the input fixes the
face there), full scale for the 1% where they differ most. This prints the spread's percentiles over every
face's pixels, the two levels that rule gives, and per face how much of its map is black and how much at full
scale, under the shipped constants and under the measured ones. Re-run it when the generator changes.

Faces: the first ``--faces`` dev faces (corpus framing) through the shipped camera, as the face tab's
"degrade" mode; and every face of the demo's crowd photo through the whole-photo search (the app's defaults).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from srnam import SRNAMPipeline
from srnam.evaluation.run import load_faces
from srnam.images import tensor_to_pil
from srnam.search import SearchSettings
from srnam.faces.photo import UNCERTAINTY_BLACK, UNCERTAINTY_FULL_SCALE, candidate_spread, enhance_photo
from srnam.pipeline import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "faces128" / "dev"
CROWD = ROOT / "demo" / "examples" / "photos" / "crowd.jpg"
BLACK_QUANTILE, FULL_QUANTILE = 0.25, 0.99


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--dev", type=Path, default=DEV, help="HR faces (default: the corpus's dev faces)")
    parser.add_argument("--faces", type=int, default=24)
    parser.add_argument("--photo", type=Path, default=CROWD)
    parser.add_argument("-k", "--candidates", type=int, default=4)
    parser.add_argument("-n", "--steps", type=int, default=300)
    args = parser.parse_args(argv)

    pipe = SRNAMPipeline.from_pretrained(args.model)
    spreads = {}  # set name → [faces, 64, 64]
    if args.dev.is_dir():
        hr = load_faces(args.dev, "corpus", args.faces).hr
        lr = [tensor_to_pil(x) for x in pipe.degradation.photograph(hr, list(range(len(hr))))]
        outputs = pipe(lr, num_candidates=args.candidates, num_steps=args.steps, seed=0, output_type="pt")
        spreads[f"dev faces ({len(hr)})"] = np.stack([candidate_spread(o.hr_candidates) for o in outputs])
    result = enhance_photo(pipe, args.photo, search=SearchSettings(args.candidates, args.steps, seed=0), scale=1,
                           lr_mode="degrade")
    if result.faces:
        spreads[f"{args.photo.name} ({len(result.faces)} faces)"] = np.stack(
            [candidate_spread(f.output.hr_candidates) for f in result.faces])

    every = np.concatenate([s.ravel() for s in spreads.values()])
    quantiles = (0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    print(f"{args.candidates} candidates × {args.steps} steps; per-pixel std of the candidates (on [0, 1]):")
    for name, spread in {**spreads, "all": every}.items():
        print(f"  {name:28s} " + "  ".join(f"p{round(q * 100)} {np.quantile(spread, q):.4f}" for q in quantiles))
    black, full = np.quantile(every, BLACK_QUANTILE), np.quantile(every, FULL_QUANTILE)
    print(f"measured: black up to p{BLACK_QUANTILE * 100:.0f} = {black:.4f}, full scale from "
          f"p{FULL_QUANTILE * 100:.0f} = {full:.4f} (8-bit levels: {black * 255:.1f} and {full * 255:.1f})")
    for label, (b, f) in {"shipped": (UNCERTAINTY_BLACK, UNCERTAINTY_FULL_SCALE), "measured": (black, full)}.items():
        print(f"per face, with the {label} levels (black {b:.4f}, full {f:.4f}): share of the map black / at full")
        for name, spread in spreads.items():
            at_black = (spread <= b).mean(axis=(1, 2))
            at_full = (spread >= f).mean(axis=(1, 2))
            print(f"  {name:28s} black {_range(at_black)}   full {_range(at_full)}")


def _range(shares: np.ndarray) -> str:
    return f"{shares.min():6.1%} – {shares.max():6.1%} (mean {shares.mean():5.1%})"


if __name__ == "__main__":
    main()
