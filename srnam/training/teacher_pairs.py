"""Fresh (z, face) pairs from the teacher, in a cache folder that a background process keeps filling.

The student learns the map z → the teacher's 64×64 corpus face. The corpus holds 6,300 such pairs, too few (issue
28); the teacher makes as many as one waits for. On a GPU the trainer draws them on the fly
(``DistillConfig.pair_source = "on-the-fly"``); on a CPU the 1024-px synthesis costs about 0.24 s a face in OpenVINO
on 2 cores (the torch teacher takes about 3× that), so ``train/make_teacher_pairs.py`` writes them in the
background, shard by shard, while the trainer reads what is there.

A cache folder::

    mapping/model.safetensors                 the teacher's mapping network and truncation (a StyleMapping's state)
    shard-000000.safetensors ...              z float32 [M, 512], faces uint8 [M, 3, 64, 64], each written whole

Shard k's z come from a generator seeded by (seed, k), so a cache is the same whoever fills it and in whatever
order; shards are written to a temporary name and renamed, so a killed writer leaves no half shard.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import ModelLoadError
from ..images import to_uint8
from ..models.style_student import StyleMapping
from ..models.teacher import MobileStyleGANTeacher, corpus_crop, teacher_files

MAPPING_FOLDER = "mapping"


def shard_path(folder: Path, index: int) -> Path:
    return folder / f"shard-{index:06d}.safetensors"


def shard_latents(seed: int, index: int, size: int) -> torch.Tensor:
    """The z of shard ``index``: [size, 512] ~ N(0, I), seeded by (seed, index)."""
    return torch.randn(size, 512, generator=torch.Generator().manual_seed(seed * 1_000_003 + index))


class TeacherFaces:
    """z [N, 512] → the teacher's 64×64 corpus faces in [-1, 1], by OpenVINO (CPU) or the torch teacher."""

    def __init__(self, backend: str = "auto", device: str | torch.device = "cpu", batch: int = 8, threads: int = 0):
        if backend == "auto":
            backend = "torch" if torch.device(device).type == "cuda" else "openvino"
            try:
                import openvino  # noqa: F401
            except ImportError:
                backend = "torch"
        if backend not in ("openvino", "torch"):
            raise ValueError(f"backend must be 'auto', 'openvino' or 'torch', got {backend!r}")
        self.backend, self.device, self.batch = backend, torch.device(device), batch
        self.teacher = MobileStyleGANTeacher().to(self.device).eval()  # the mean style, and the torch backend
        if backend == "openvino":
            import openvino as ov

            folder, core = teacher_files(), ov.Core()
            # float32: the default on CPUs with AMX is bfloat16, 1e-2 off the reference
            options = {"INFERENCE_PRECISION_HINT": "f32", **({"INFERENCE_NUM_THREADS": threads} if threads else {})}
            mapping = core.read_model(folder / "MappingNetwork.xml", folder / "MappingNetwork.bin")
            mapping.reshape({mapping.inputs[0].get_any_name(): [batch, 512]})
            synthesis = core.read_model(folder / "SynthesisNetwork.xml", folder / "SynthesisNetwork.bin")
            synthesis.reshape({synthesis.inputs[0].get_any_name(): [batch, 512]})
            self._mapping = core.compile_model(mapping, "CPU", options)
            self._synthesis = core.compile_model(synthesis, "CPU", options)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        out = []
        for start in range(0, z.shape[0], self.batch):
            chunk = z[start:start + self.batch]
            if self.backend == "torch":
                out.append(self.teacher(chunk.to(self.device)).cpu())
                continue
            padded = torch.cat([chunk, chunk.new_zeros(self.batch - chunk.shape[0], 512)])  # compiled for a batch
            w = torch.from_numpy(self._mapping(padded.numpy())[0])
            w = self.teacher.truncate(w, self.teacher.psi)
            portraits = torch.from_numpy(self._synthesis(w.numpy())[0])
            out.append(corpus_crop(portraits, self.teacher.resolution)[:chunk.shape[0]])
        return torch.cat(out)


def write_mapping(folder: Path, teacher: MobileStyleGANTeacher) -> None:
    """The teacher's mapping network and truncation, as a StyleMapping, so a trainer needs no teacher package."""
    mapping = StyleMapping().copy_from_teacher(teacher)
    (folder / MAPPING_FOLDER).mkdir(parents=True, exist_ok=True)
    save_file(mapping.state_dict(), str(folder / MAPPING_FOLDER / "model.safetensors"))


def read_mapping(folder: Path) -> dict[str, torch.Tensor]:
    path = Path(folder) / MAPPING_FOLDER / "model.safetensors"
    if not path.is_file():
        raise ModelLoadError(f"{folder} is not a teacher-pair cache: no {MAPPING_FOLDER}/model.safetensors "
                             f"(made by train/make_teacher_pairs.py)")
    return load_file(str(path))


def fill_cache(folder: str | Path, shards: int, shard_size: int = 256, seed: int = 0, backend: str = "auto",
               device: str = "cpu", threads: int = 0, log=print) -> int:
    """Write the missing shards 0..shards-1 of ``folder`` (resumable: complete shards are kept). Returns the
    number written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    faces = TeacherFaces(backend, device, threads=threads)
    if not (folder / MAPPING_FOLDER / "model.safetensors").is_file():
        write_mapping(folder, faces.teacher)
    written = 0
    for index in range(shards):
        path = shard_path(folder, index)
        if path.is_file():
            continue
        start = time.perf_counter()
        z = shard_latents(seed, index, shard_size)
        tmp = path.with_suffix(".tmp")
        save_file({"z": z.contiguous(), "faces": to_uint8(faces(z)).contiguous()}, str(tmp))
        os.replace(tmp, path)
        written += 1
        log(f"{path.name}: {shard_size} pairs in {time.perf_counter() - start:.1f} s ({faces.backend})")
    return written


def read_shards(folder: str | Path, count: int | None = None, start: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """z [N, 512] and faces uint8 [N, 3, 64, 64] of the consecutive complete shards from ``start`` up to ``count``
    (all there are when None), and the index after the last one read (the shard count, with ``start``)."""
    folder = Path(folder)
    zs, faces, index = [], [], start
    while (count is None or index < count) and shard_path(folder, index).is_file():
        shard = load_file(str(shard_path(folder, index)))
        if set(shard) != {"z", "faces"} or shard["z"].shape[0] != shard["faces"].shape[0] \
                or tuple(shard["faces"].shape[1:]) != (3, 64, 64) or shard["faces"].dtype != torch.uint8:
            raise ModelLoadError(f"{shard_path(folder, index)} is not a pair shard (z [M, 512], faces uint8 "
                                 f"[M, 3, 64, 64])")
        zs.append(shard["z"])
        faces.append(shard["faces"])
        index += 1
    if count is not None and index < count:
        raise ModelLoadError(f"{folder} has {index} complete shards, the run used {count}: the cache was changed")
    if not zs:
        return torch.zeros(0, 512), torch.zeros(0, 3, 64, 64, dtype=torch.uint8), index
    return torch.cat(zs), torch.cat(faces), index
