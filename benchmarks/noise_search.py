"""Does searching the camera noise too help, and at which learning rate? LR consistency and diversity of the
latent search with the noise fixed, and with ``optimize_noise=True`` at each ``noise_learning_rate``.

    python benchmarks/noise_search.py ../shared/data/faces128/dev --model PIPE --faces 8 --rates 0.05,0.15,0.4

The first ``--faces`` faces of the folder (the corpus framing), their LR inputs made as ``srnam evaluate`` makes
them (``--sources``: the model's own camera, the synthetic chain), one search of ``-k`` candidates × ``-n`` steps
for all faces per setting, same seed. Prints the mean-of-K and best-of-K LR PSNR of the 8-bit projections and the
diversity (mean pairwise L1 of the candidates, [0, 1]).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from srnam.evaluation import metrics
from srnam import SRNAMPipeline, images
from srnam.evaluation.run import load_faces, make_lr_inputs
from srnam.search import latent_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("faces", type=Path, help="folder of HR face images")
    parser.add_argument("--model", help="pipeline folder or Hub repo (default: checkpoints/default)")
    parser.add_argument("--faces", dest="count", type=int, default=8)
    parser.add_argument("--rates", default="0.05,0.15,0.4", help="noise learning rates (comma-separated)")
    parser.add_argument("--sources", default="degrade,synthetic", help="LR sources, as srnam evaluate's")
    parser.add_argument("-k", "--candidates", type=int, default=8)
    parser.add_argument("-n", "--steps", type=int, default=300)
    args = parser.parse_args()

    pipe = SRNAMPipeline.from_pretrained(args.model, device="cpu")
    names, hr, *_ = load_faces(args.faces, "corpus", args.count)
    settings = [("noise fixed", False, None)] + [(f"noise searched, lr {r}", True, float(r))
                                                 for r in args.rates.split(",")]
    print(f"{len(names)} faces, {args.candidates} candidates × {args.steps} steps")
    print("| LR inputs | search | mean-of-K LR PSNR dB | best-of-K | diversity | seconds |")
    print("|---|---|---|---|---|---|")
    for source in args.sources.split(","):
        lr = make_lr_inputs(hr, names, source, pipe.degradation, seed=0)  # [N, 3, 16, 16] in [-1, 1]
        for label, optimize, rate in settings:
            started = time.perf_counter()
            result = latent_search(pipe.generator, pipe.degradation, lr, num_candidates=args.candidates,
                                   num_steps=args.steps, generator_rng=torch.Generator().manual_seed(0),
                                   optimize_noise=optimize, **({"noise_learning_rate": rate} if optimize else {}))
            seconds = time.perf_counter() - started
            projections = images.to_unit_range(result.lr)  # [N, K, 3, 16, 16], 8-bit levels in [0, 1]
            psnr = images.psnr(projections, images.to_unit_range(lr)[:, None])  # [N, K]
            hr_candidates = images.to_unit_range(result.hr)
            diversity = sum(metrics.mean_pairwise_l1(c) for c in hr_candidates) / len(names)
            print(f"| {source} | {label} | {psnr.mean():.2f} | {psnr.max(dim=1).values.mean():.2f} | "
                  f"{diversity:.4f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
