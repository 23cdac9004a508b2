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
from srnam.training.run import add_run_arguments, config_from_args, exit_code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", type=Path, nargs="?", help="the teacher-pair cache folder")
    add_run_arguments(parser, DISTILL_CONFIGS)
    args = parser.parse_args(argv)
    config = config_from_args(DISTILL_CONFIGS, args)
    return exit_code(lambda: train(args.pairs, args.out, config, resume=args.resume, max_steps=args.max_steps,
                                   max_minutes=args.max_minutes))


if __name__ == "__main__":
    sys.exit(main())
