"""The camera model's realism and noise figures for one or more degradation models, on the same held-out faces.

    python benchmarks/camera_realism.py checkpoints/default runs/degradation_div --hr data/hr --lr data/lr \
        --faithful ../shared/data/faces128/dev

For each model (a pipeline folder, a run or its export/, or a degradation/ folder): ``camera_fd`` of its LR photos
of the last ``--faces`` HR faces against as many LR-domain photos, with plain area downsampling and the LR domain's
next photos (the floor) beside it, and ``noise_spread`` in 8-bit levels (srnam/evaluation/camera_realism.py). The same
figures the degradation trainer logs, so a run's log and this table agree.

With ``--faithful FOLDER`` (held-out portraits, cut with the training framing; needs the ``metrics`` extra): are
the LR photos still of the same face? Each face's LR photo (one seeded noise vector per face, 8 bits) is
upsampled bicubically to 64×64 and compared with the HR face by dlib: the mean identity distance and the mean
normalised landmark error, beside the same for plain area downsampling (a camera model should be no more than
0.05 further from the face than area downsampling is). A last row gives the same for the LR domain's own chain
(``srnam.training.data.RealisticDegradation``, one seeded chain per face): how far photos like the LR domain's are from
their faces, since a camera that blurs as the LR domain does cannot be as faithful as area downsampling.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from srnam.evaluation import metrics
from srnam import images
from srnam.training.data import RealisticDegradation, load_image_folder
from srnam.evaluation.run import load_faces
from srnam.images import stack_pil, tensor_to_pil
from srnam.models import DegradationGenerator
from srnam.training.degradation import CameraRealism, DegradationConfig
from srnam.training.run import find_model_folder


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--hr", type=Path, required=True, help="folder of 64×64 HR faces (the last --faces are used)")
    parser.add_argument("--lr", type=Path, required=True, help="folder of 16×16 LR-domain photos")
    parser.add_argument("--faces", type=int, default=512)
    parser.add_argument("--faithful", type=Path, metavar="FOLDER", help="held-out portraits for the identity check")
    parser.add_argument("--faithful-faces", type=int, default=200, help="how many of them (default 200)")
    args = parser.parse_args(argv)
    hr, lr = load_image_folder(args.hr, 64), load_image_folder(args.lr, 16)
    faithful = Faithfulness(load_faces(args.faithful, "corpus", args.faithful_faces)[1]) if args.faithful else None
    extra = f" {'identity':>9} {'area':>6} {'landmark NLE':>13} {'area':>6}" if faithful else ""
    print(f"{'model':<50} {'camera_fd':>10} {'area':>8} {'floor':>8} {'noise_spread':>13}{extra}")
    for path in args.models:
        model = DegradationGenerator.from_folder(find_model_folder(path, "degradation"))
        config = DegradationConfig(noise_size=model.noise_size, eval_faces=args.faces)
        row = CameraRealism(hr, lr, config)(model)
        line = (f"{str(path):<50} {row['camera_fd']:10.3f} {row['camera_fd_area']:8.3f} {row['camera_fd_floor']:8.3f} "
                f"{row['noise_spread']:13.2f}")
        if faithful:
            ours, area = faithful(model), faithful.area
            line += f" {ours[0]:9.3f} {area[0]:6.3f} {ours[1]:13.4f} {area[1]:6.4f}"
        print(line, flush=True)
    if faithful:
        chain = faithful.chain()
        print(f"{'LR domain chain (RealisticDegradation)':<50} {'':>10} {'':>8} {'':>8} {'':>13} {chain[0]:9.3f} "
              f"{faithful.area[0]:6.3f} {chain[1]:13.4f} {faithful.area[1]:6.4f}")


class Faithfulness:
    """Identity distance and landmark error of bicubic-upsampled LR photos against their HR faces."""

    def __init__(self, faces: torch.Tensor):
        self.faces, self.analyser = faces, metrics.FaceAnalyser()  # [N, 3, 64, 64] in [-1, 1]
        self.truth = self.analyser.analyse_all(images.to_unit_range(faces))  # landmarks, descriptors
        self.area = self.score(F.avg_pool2d(faces, 4))

    def score(self, lr: torch.Tensor) -> tuple[float, float]:
        up = images.to_unit_range(F.interpolate(images.to_unit_range(lr) * 2 - 1, size=64, mode="bicubic"))
        points, ids = self.analyser.analyse_all(up)
        identity = [metrics.identity_distance(d, t) for d, t in zip(ids, self.truth[1])]
        landmarks = [metrics.normalised_landmark_error(p, t) for p, t in zip(points, self.truth[0])]
        return float(np.mean(identity)), float(np.mean(landmarks))

    def __call__(self, model: DegradationGenerator) -> tuple[float, float]:
        return self.score(model.photograph(self.faces, list(range(len(self.faces)))))

    def chain(self) -> tuple[float, float]:
        """The same figures for the LR domain's synthetic chain, seeded per face."""
        synthesiser = RealisticDegradation()
        photos = [synthesiser(tensor_to_pil(face), random.Random(i)) for i, face in enumerate(self.faces)]
        return self.score(stack_pil(photos))


if __name__ == "__main__":
    main()
