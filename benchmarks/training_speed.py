"""Training throughput (img/s) of the real trainers, per ProGAN stage and for the degradation model.

    python benchmarks/training_speed.py                 # 'small' configs, random images
    python benchmarks/training_speed.py --progan-config paper --images 64
    python benchmarks/training_speed.py --adversarial-variants --images 320   # the WGAN-GP step's speed-ups at 64×64

Runs each trainer for a few steps on random images in a temporary folder and reports the median
img/s from its metrics log (first step of each stage excluded: warm-up). The speed does not depend
on the image content.

``--adversarial-variants`` times only the adversarial step at the last stage (64×64, batch 16, as a
fine-tuning run trains), for each speed-up alone and together: the lazy gradient penalty (``gp_every``)
and bfloat16 autocast (``precision``), and prints each one's ratio to the plain float32 step with a penalty
at every step, all in one run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srnam.training.degradation import DEGRADATION_CONFIGS
from srnam.training.degradation import train as train_degradation
from srnam.training.precision import describe_cpu
from srnam.training.progan import PROGAN_CONFIGS
from srnam.training.progan import train as train_progan


def write_images(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return folder


def median_img_s(run_dir: Path, key: str | None) -> dict:
    groups: dict = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        groups.setdefault(record.get(key) if key else "all", []).append(record["img_s"])
    return {k: statistics.median(v[1:] or v) for k, v in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--progan-config", default="small", choices=PROGAN_CONFIGS)
    parser.add_argument("--degradation-config", default="small", choices=DEGRADATION_CONFIGS)
    parser.add_argument("--images", type=int, default=64, help="random images per stage (= 1 epoch)")
    parser.add_argument("--degradation-steps", type=int, default=6)
    parser.add_argument("--adversarial-variants", action="store_true",
                        help="time the adversarial step's variants at 64×64 instead (lazy penalty, bf16)")
    args = parser.parse_args()
    print(f"machine: {describe_cpu()}, {torch.get_num_threads()} threads, "
          f"{'cuda ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hr = write_images(tmp / "hr", args.images, 64)
        # The paired loss's latents (train/prepare_data.py --latents writes them for real data).
        latent_size = PROGAN_CONFIGS[args.progan_config].latent_size
        latents = np.random.default_rng(1).standard_normal((args.images, latent_size)).astype(np.float32)
        np.save(hr / "latents.npy", latents)
        lr = write_images(tmp / "lr", args.images, 16)
        if args.adversarial_variants:
            adversarial_variants(hr, tmp, PROGAN_CONFIGS[args.progan_config])
            return
        progan = dataclasses.replace(PROGAN_CONFIGS[args.progan_config], stage_epochs=(2,) * 5, log_every=1,
                                     sample_every=10**9, checkpoint_every=10**9)
        train_progan(hr, tmp / "progan", progan)
        print(f"ProGAN '{args.progan_config}' (G {progan.channels}, batch sizes {progan.batch_sizes}):")
        for resolution, img_s in sorted(median_img_s(tmp / "progan", "resolution").items()):
            print(f"  {resolution:>2}×{resolution:<2}: {img_s:7.1f} img/s")
        degradation = dataclasses.replace(DEGRADATION_CONFIGS[args.degradation_config],
                                          num_steps=args.degradation_steps, log_every=1, sample_every=10**9,
                                          checkpoint_every=10**9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the VGG notice: the benchmark measures without it
            train_degradation(hr, lr, tmp / "degradation", degradation)
        img_s = median_img_s(tmp / "degradation", None)["all"]
        print(f"degradation '{args.degradation_config}' (batch {degradation.batch_size}, {degradation.n_critic} critic "
              f"steps per generator step, no VGG): {img_s:.1f} img/s (HR images drawn, critic + generator)")


ADVERSARIAL_VARIANTS = {  # name → config fields; the first is the baseline of the ratios
    "float32, penalty every step": dict(gp_every=1, precision="fp32"),
    "float32, lazy penalty (every 4th)": dict(gp_every=4, precision="fp32"),
    "bfloat16, penalty every step": dict(gp_every=1, precision="bf16"),
    "bfloat16, lazy penalty (every 4th)": dict(gp_every=4, precision="bf16"),
    "bfloat16, lazy penalty (every 8th)": dict(gp_every=8, precision="bf16"),
}


def adversarial_variants(hr: Path, tmp: Path, base) -> None:
    """The WGAN-GP step at the last stage only, batch 16, for each variant: median img/s and ratio."""
    print(f"ProGAN adversarial step at 64×64, G and critic {base.channels}, batch 16 (no paired loss):")
    baseline = None
    for index, (name, fields) in enumerate(ADVERSARIAL_VARIANTS.items()):
        config = dataclasses.replace(base, stage_epochs=(0, 0, 0, 0, 1), batch_sizes=(16,) * 5, log_every=1,
                                     sample_every=10**9, checkpoint_every=10**9, distill_weight=0.0, latent_lr=0.0,
                                     gan_weight=1.0, **fields)
        train_progan(hr, tmp / f"variant{index}", config)
        # the median over windows of 8 steps: a lazy penalty makes single steps alternate between fast and slow
        records = [json.loads(line) for line in (tmp / f"variant{index}" / "metrics.jsonl").read_text().splitlines()]
        seconds = [16 / r["img_s"] for r in records[1:]]
        windows = [8 * 16 / sum(seconds[i:i + 8]) for i in range(0, len(seconds) - 7)]
        img_s = statistics.median(windows or [16 / statistics.median(seconds)])
        baseline = baseline or img_s
        print(f"  {name:<38} {img_s:6.1f} img/s   {img_s / baseline:4.2f}×", flush=True)


if __name__ == "__main__":
    main()
