"""How good are a generator's random samples? Sharpness, realism and face-ness of G(z), without a search.

    python benchmarks/generator_quality.py checkpoints/default runs/progan/snapshots/step-* \
        --reference ../shared/data/faces128/train --samples 300 --out runs/generator_quality.json

For each generator (a pipeline folder, a run, its export/ or a snapshot) it draws ``--samples`` random
samples G(z) (the same z for every generator) and prints:

* sharpness: their mean squared Laplacian over that of the reference faces (1: real faces' detail);
* face FD: the Fréchet distance of their dlib face descriptors to those of the first ``--reference-limit``
  reference faces, beside the figure of as many further real faces (the floor at this sample size);
* face-ness: the share in which the Haar cascade finds a face.

It is the quick check of a training run (a minute or two per generator on a CPU); ``srnam evaluate`` and
``train/select_checkpoint.py`` measure the candidates of the search, which is what ships. Needs the
``metrics`` extra.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from srnam.evaluation import metrics
from srnam import images
from srnam.jsonfile import write_json
from srnam.evaluation.run import RealismReference, load_faces
from srnam.models import load_generator
from srnam.training.progan import find_model_folder


@torch.no_grad()
def measure(generator: torch.nn.Module, z: torch.Tensor, analyser, reference: RealismReference) -> dict:
    samples = images.to_unit_range(torch.cat([generator(chunk) for chunk in z.split(64)]))
    return {**reference.sample_realism(analyser, samples), "faceness": metrics.face_detection_rate(samples * 2 - 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generators", nargs="+", type=Path)
    parser.add_argument("--reference", type=Path, required=True, help="real faces (corpus framing)")
    parser.add_argument("--reference-limit", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    analyser = metrics.FaceAnalyser()
    faces = load_faces(args.reference, "corpus", args.reference_limit + args.samples)[1]
    reference = RealismReference.from_faces(analyser, faces, args.reference_limit)
    floor = metrics.frechet_distance(reference.floor_descriptors, reference.descriptors)
    print(f"{len(reference.descriptors)} reference faces; {len(reference.floor_descriptors)} further real faces: "
          f"face FD {floor:.3f} (the floor), sharpness 1 by definition")
    results = {"reference": str(args.reference), "reference_faces": len(reference.descriptors),
               "samples": args.samples, "real_face_fd": floor, "generators": {}}
    print(f"{'generator':<60} {'sharpness':>9} {'face FD':>8} {'face-ness':>9}")
    for path in args.generators:
        generator = load_generator(find_model_folder(path, "generator"))
        z = torch.randn(args.samples, generator.latent_size, generator=torch.Generator().manual_seed(args.seed))
        row = measure(generator, z, analyser, reference)
        results["generators"][str(path)] = row
        print(f"{str(path):<60} {row['sharpness']:9.3f} {row['face_fd']:8.3f} {row['faceness']:9.1%}", flush=True)
    if args.out:
        write_json(args.out, results, indent=1)


if __name__ == "__main__":
    main()
