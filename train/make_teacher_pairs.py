"""Fill a teacher-pair cache: (z, the teacher's 64×64 corpus face) pairs for train/train_distill.py.

examples:
  python train/make_teacher_pairs.py ~/data/teacher_pairs --shards 40                 # 40 × 256 pairs
  nohup python train/make_teacher_pairs.py ~/data/teacher_pairs --shards 400 --threads 1 &   # beside a training

Needs the teacher extra (README: openvino, random-face). Resumable: complete shards are kept, and shard k is the
same whoever writes it (its z are seeded by --seed and k). About 0.6 s a pair with OpenVINO on 2 idle CPU cores.
"""
import argparse
import sys
from pathlib import Path

from srnam.errors import SRNAMError
from srnam.training.teacher_pairs import fill_cache


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the cache folder (created)")
    parser.add_argument("--shards", type=int, required=True, help="write shards 0..N-1 that are missing")
    parser.add_argument("--shard-size", type=int, default=256, help="pairs per shard (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the cache's seed (default: %(default)s)")
    parser.add_argument("--backend", choices=("auto", "openvino", "torch"), default="auto",
                        help="auto: torch on CUDA, else OpenVINO when installed (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="the torch backend's device (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="OpenVINO's CPU threads (0: all)")
    args = parser.parse_args(argv)
    if args.shards < 1 or args.shard_size < 1:
        parser.error("--shards and --shard-size must be >= 1")
    try:
        written = fill_cache(args.out, args.shards, args.shard_size, args.seed, args.backend, args.device,
                             args.threads)
    except SRNAMError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{written} shard(s) written; {args.out} holds shards 0..{args.shards - 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
