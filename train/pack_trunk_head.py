"""Pack a trunk student's head as a small warm start: config.json and head.safetensors, without the teacher's parts.

examples:
  python train/pack_trunk_head.py ~/runs/trunk_cpu/snapshots/step-0020000 train/default_checkpoint/trunk_warm_start
  python train/pack_trunk_head.py --unpack gpu_distill_out ~/runs/trunk_gpu    # the whole generator again

A trunk student's generator is 29 MB, of which the head is 2.5 MB: the mapping and the trunk are the teacher's,
copied from the installed teacher whenever a run starts. train/train_distill.py --init-from takes the packed
folder (the teacher extra installed). The source is a trunk student's generator folder, a snapshot, a run's export
or a pipeline folder. --unpack goes the other way: from a packed head (a warm start, or what train/gpu_distill.sh
brings back) to the whole generator in OUT/generator, the rest copied from the installed teacher, so that
srnam evaluate, select_checkpoint.py and publish.py take it.
"""
import argparse
import sys
from pathlib import Path

from srnam.errors import SRNAMError
from srnam.models import TrunkStudentGenerator, load_generator
from srnam.models.trunk_student import HEAD_FILE, find_head, load_head, save_head
from srnam.training.run import find_model_folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a trunk student (generator folder, snapshot, export, pipeline)")
    parser.add_argument("out", type=Path, help="the folder to write (its generator/ subfolder holds the head)")
    parser.add_argument("--unpack", action="store_true",
                        help="SOURCE is a packed head: write the whole generator (needs the teacher extra)")
    args = parser.parse_args(argv)
    if args.unpack:
        return unpack(args.source, args.out)
    try:
        generator = load_generator(find_model_folder(args.source, "generator"))
    except SRNAMError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not isinstance(generator, TrunkStudentGenerator):
        print(f"error: {args.source} holds a {type(generator).__name__}, not a trunk student", file=sys.stderr)
        return 2
    folder = save_head(generator, args.out / "generator")
    print(f"wrote {folder}")
    return 0


def unpack(source: Path, out: Path) -> int:
    from srnam.models.hub import read_config
    from srnam.models.teacher import MobileStyleGANTeacher

    folder = find_head(source)
    if folder is None:
        print(f"error: {source} holds no packed head ({HEAD_FILE} in it or in its generator/)", file=sys.stderr)
        return 2
    try:
        generator = TrunkStudentGenerator(**read_config(TrunkStudentGenerator, folder / "config.json"))
        load_head(generator.copy_from_teacher(MobileStyleGANTeacher()), folder)
    except (SRNAMError, ValueError) as err:
        print(f"error: {folder}: {err}", file=sys.stderr)
        return 2
    generator.eval().save_pretrained(out / "generator")
    print(f"wrote {out / 'generator'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
