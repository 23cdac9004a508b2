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
from srnam.training.run import add_run_arguments, config_from_args, exit_code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="folder of HR face images")
    add_run_arguments(parser, PROGAN_CONFIGS)
    args = parser.parse_args(argv)
    config = config_from_args(PROGAN_CONFIGS, args)
    return exit_code(lambda: train(args.data, args.out, config, resume=args.resume, max_steps=args.max_steps,
                                   max_minutes=args.max_minutes))


if __name__ == "__main__":
    sys.exit(main())
