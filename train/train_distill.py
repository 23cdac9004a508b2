"""Distil the teacher (MobileStyleGAN) into the style student, the search's generator (issue 28).

examples:
  python train/make_teacher_pairs.py ~/data/teacher_pairs --shards 8            # a first 2,048 pairs
  nohup python train/make_teacher_pairs.py ~/data/teacher_pairs --shards 400 --threads 1 &   # more, meanwhile
  python train/train_distill.py ~/data/teacher_pairs --out ~/runs/distill --config cpu --max-minutes 120
  python train/train_distill.py ~/data/teacher_pairs --out ~/runs/distill --config cpu --resume
  python train/train_distill.py --out ~/runs/distill_gpu --config gpu --max-minutes 10       # on a GPU: no cache

PAIRS is a cache folder of train/make_teacher_pairs.py (not needed with --pair-source on-the-fly, the gpu config, which
draws fresh pairs from the torch teacher every step). The run exports OUT/export/generator/ for train/publish.py
and SRNAMPipeline; --snapshot-every writes snapshots/step-N/generator/ for train/select_checkpoint.py.
"""
import argparse
import sys
from pathlib import Path

from srnam.training.distill import DISTILL_CONFIGS, train
from srnam.training.cli import trainer_main


def inputs(parser: argparse.ArgumentParser) -> list[str]:
    parser.add_argument("pairs", type=Path, nargs="?", help="the teacher-pair cache folder")
    return ["pairs"]


def main(argv=None) -> int:
    return trainer_main(__doc__, DISTILL_CONFIGS, train, inputs, argv)


if __name__ == "__main__":
    sys.exit(main())
