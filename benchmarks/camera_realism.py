"""The camera model's realism and noise figures for one or more degradation models, on the same held-out faces.

    python benchmarks/camera_realism.py checkpoints/default runs/degradation_div --hr data/hr --lr data/lr

For each model (a pipeline folder, a run or its export/, or a degradation/ folder): ``camera_fd`` of its LR photos
of the last ``--faces`` HR faces against as many LR-domain photos, with plain area downsampling and the LR domain's
next photos (the floor) beside it, and ``noise_spread`` in 8-bit levels (srnam/camera_realism.py). The same
figures the degradation trainer logs, so a run's log and this table agree.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from srnam.data import load_image_folder
from srnam.models import DegradationGenerator
from srnam.training.degradation import CameraRealism, DegradationConfig
from srnam.training.progan import find_model_folder


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--hr", type=Path, required=True, help="folder of 64×64 HR faces (the last --faces are used)")
    parser.add_argument("--lr", type=Path, required=True, help="folder of 16×16 LR-domain photos")
    parser.add_argument("--faces", type=int, default=512)
    args = parser.parse_args(argv)
    hr, lr = load_image_folder(args.hr, 64), load_image_folder(args.lr, 16)
    print(f"{'model':<50} {'camera_fd':>10} {'area':>8} {'floor':>8} {'noise_spread':>13}")
    for path in args.models:
        model = DegradationGenerator.from_folder(find_model_folder(path, "degradation"))
        config = DegradationConfig(noise_size=model.noise_size, eval_faces=args.faces)
        row = CameraRealism(hr, lr, config)(model)
        print(f"{str(path):<50} {row['camera_fd']:10.3f} {row['camera_fd_area']:8.3f} {row['camera_fd_floor']:8.3f} "
              f"{row['noise_spread']:13.2f}", flush=True)


if __name__ == "__main__":
    main()
