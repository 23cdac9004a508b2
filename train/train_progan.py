"""Train the ProGAN face generator with progressive growing (4×4 → 64×64), WGAN-GP and an EMA.

examples:
  python train/train_progan.py data/hr --out runs/progan --config small
  python train/train_progan.py data/hr --out runs/progan --config small --resume      # continue a run
  accelerate launch --multi_gpu --num_processes 4 train/train_progan.py data/hr --out runs/progan --config paper

DATA is a folder of 64×64 faces (train/prepare_data.py makes one); with --distill-weight > 0 it must also
hold latents.npy (one latent per image, in file-name order). The finished run exports
OUT/export/generator/ (config.json + model.safetensors) for train/publish.py and SRNAMPipeline.
"""
import argparse
import sys
from pathlib import Path

from srnam.training.progan import PROGAN_CONFIGS, train
from srnam.training.cli import trainer_main


def inputs(parser: argparse.ArgumentParser) -> list[str]:
    parser.add_argument("data", type=Path, help="folder of HR face images")
    return ["data"]


def main(argv=None) -> int:
    return trainer_main(__doc__, PROGAN_CONFIGS, train, inputs, argv)


if __name__ == "__main__":
    sys.exit(main())
