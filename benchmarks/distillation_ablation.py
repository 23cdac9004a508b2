"""Which losses train the generator best on a CPU budget? The same generator, data and schedule with three
loss settings, then a measure of how well each covers held-out faces:

* GAN only: WGAN-GP, as ProGAN trains;
* GAN + distillation: plus the paired loss towards face i from the corpus's own latent z_i;
* learned latents, no GAN: only the paired loss, with the z_i learned too (what checkpoints/default uses).

    python benchmarks/distillation_ablation.py data/hr ../shared/data/faces128/dev --out runs/ablation

A full 64×64 ProGAN run per variant does not fit a CPU session, so both variants are grown to 16×16 only,
with identical configs, seeds and data (the first three stages of the shipped 'compact' config), and then
judged at 16×16 by *inversion*: for each held-out face (4× area-downsampled to 16×16) the latent search
looks for the z whose G(z) matches it best (the degradation model replaced by the identity). The PSNR of
the best match says how much of the space of real faces the generator can reach, which is what SR-NAM
needs. The generator's own sample quality is shown as sample sheets next to the figures.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from srnam.evaluation.run import load_faces
from srnam.grid import image_grid
from srnam.images import psnr, to_unit_range
from srnam.models import ProGANGenerator
from srnam.search import latent_search
from srnam.training.progan import PROGAN_CONFIGS, train

VARIANTS = {  # name: (run folder, config fields)
    "GAN only": ("gan_only", dict(distill_weight=0.0, latent_lr=0.0, gan_weight=1.0)),
    "GAN + distillation": ("distill", dict(distill_weight=10.0, latent_lr=0.0, gan_weight=1.0)),
    "learned latents, no GAN": ("learned_latents", dict(distill_weight=1.0, latent_lr=0.03, gan_weight=0.0)),
    # Its steps are about 4× cheaper (no critic, no gradient penalty): the same training time buys 4× the images.
    "learned latents, no GAN, 4× images": ("learned_latents_4x", dict(distill_weight=1.0, latent_lr=0.03,
                                                                        gan_weight=0.0, epochs_scale=4)),
}


class Identity(nn.Module):
    """Stands in for the degradation model: the search then matches G(z) itself to the target."""

    noise_size = 1

    def __init__(self, size: int):
        super().__init__()
        self.lr_size = size  # the search compares at the generator's own resolution

    def forward(self, hr: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return hr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="HR training folder with latents.npy (train/prepare_data.py)")
    parser.add_argument("faces", type=Path, help="held-out portraits (corpus framing)")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--stage-epochs", default="1,2,2", help="epochs per stage; the count sets the resolution")
    parser.add_argument("--faces-count", type=int, default=64)
    parser.add_argument("-k", "--candidates", type=int, default=4)
    parser.add_argument("-n", "--steps", type=int, default=200)
    args = parser.parse_args()

    epochs = tuple(float(e) for e in args.stage_epochs.split(","))
    base = PROGAN_CONFIGS["compact"]
    config = dataclasses.replace(base, channels=base.channels[: len(epochs)], stage_epochs=epochs, snapshot_every=0)
    side = 4 * 2 ** (len(epochs) - 1)
    hr = load_faces(args.faces, "corpus", args.faces_count).hr
    targets = F.avg_pool2d(hr, 64 // side)  # [N, 3, side, side]
    figures = {}
    for name, (folder, fields) in VARIANTS.items():
        run_dir = args.out / folder
        if not (run_dir / "export" / "generator").is_dir():  # trained already: only measured again
            losses = {k: v for k, v in fields.items() if k != "epochs_scale"}
            scaled = tuple(e * fields.get("epochs_scale", 1) for e in epochs)
            train(args.data, run_dir, dataclasses.replace(config, stage_epochs=scaled, **losses))
        seconds = json.loads((run_dir / "export" / "generator_training.json").read_text())["wall_seconds"]
        generator = ProGANGenerator.from_folder(run_dir / "export" / "generator").eval().requires_grad_(False)
        result = latent_search(generator, Identity(generator.resolution), targets, num_candidates=args.candidates,
                               num_steps=args.steps,
                               generator_rng=torch.Generator().manual_seed(0))
        scores = psnr(to_unit_range(result.lr), to_unit_range(targets)[:, None])  # [N, K]
        figures[name] = {**fields, "train_seconds": seconds, "inversion_psnr_best": round(scores.max(1).values.mean().item(), 3),
                         "inversion_psnr_mean": round(scores.mean().item(), 3)}
        with torch.no_grad():
            samples = generator(torch.randn(16, generator.latent_size, generator=torch.Generator().manual_seed(0)))
        image_grid(F.interpolate(samples, size=64, mode="nearest"), columns=4).save(run_dir / "samples_16.png")
        print(name, json.dumps(figures[name]), flush=True)
    summary = {"resolution": side, "stage_epochs": epochs, "faces": len(hr), "candidates": args.candidates,
               "steps": args.steps, "variants": figures}
    (args.out / "ablation.json").write_text(json.dumps(summary, indent=1))
    print(f"\n| variant | training s | inversion PSNR best of {args.candidates} | mean |\n|---|---|---|---|")
    for name, row in figures.items():
        print(f"| {name} | {row['train_seconds']} | {row['inversion_psnr_best']:.2f} dB | {row['inversion_psnr_mean']:.2f} dB |")


if __name__ == "__main__":
    main()
