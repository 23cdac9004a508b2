"""Train the degradation model D(hr, noise): HR faces in, realistic 16×16 photos out (unpaired WGAN-GP).

examples:
  python train/train_degradation.py data/hr data/lr --out runs/degradation
  python train/train_degradation.py data/hr data/lr --out runs/degradation --resume
  accelerate launch --multi_gpu --num_processes 2 train/train_degradation.py data/hr data/lr --out runs/deg
  python train/train_degradation.py data/hr data/lr --out runs/deg --vgg-weights vgg19-dcbb9e9d.pth
  python train/train_degradation.py data/hr data/lr --out runs/deg --vgg-weights imagenet   # download them

HR is a folder of 64×64 faces, LR a folder of real-world (or synthesised) 16×16 faces, not paired with
them (train/prepare_data.py makes both). The VGG-19 perceptual term uses torchvision's cached ImageNet
weights or --vgg-weights (a file, or "imagenet" to download them); without either it is switched off, with
a message. Nothing is downloaded unless asked. The finished run exports
OUT/export/degradation/ for train/publish.py and SRNAMPipeline.
"""
import argparse
import sys
from pathlib import Path

from srnam.training.degradation import DEGRADATION_CONFIGS, train
from srnam.training.cli import trainer_main


def inputs(parser: argparse.ArgumentParser) -> list[str]:
    parser.add_argument("hr_dir", metavar="hr", type=Path, help="folder of 64×64 HR faces")
    # dest lr_dir: "lr" is also the config's learning rate (--lr)
    parser.add_argument("lr_dir", metavar="lr", type=Path, help="folder of 16×16 LR faces (the target distribution)")
    parser.add_argument("--vgg-weights", help="VGG-19 ImageNet weights: a file (.pth state dict or .safetensors), or "
                                              "'imagenet' to let torchvision download them (needs the internet)")
    return ["hr_dir", "lr_dir"]


def main(argv=None) -> int:
    return trainer_main(__doc__, DEGRADATION_CONFIGS, train, inputs, argv, vgg_weights="vgg_weights")


if __name__ == "__main__":
    sys.exit(main())
