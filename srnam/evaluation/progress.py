"""An evaluation's finished search batches, kept on disk: an interrupted ``srnam evaluate --resume`` goes on where
it stopped.

An evaluation of 200 faces at 8 × 300 takes hours on a CPU. Each batch of faces is searched with its own seed
(``run.evaluate``), so a batch done once is done: its scored faces, loss history, face descriptors and search
time are saved as it finishes, and a resumed run loads them instead of searching again. The figures come out the
same as an uninterrupted run's (tested). The folder also records the settings the batches were made with (the
faces' names, the search, the weights' digest): a resume under other settings is refused, never mixed in.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..jsonfile import write_json

SETTINGS_FILE = "settings.json"


@dataclass
class FinishedBatch:
    faces: list[dict]  # the scored faces (run.score_batch), with their ground truth's LR PSNR
    history: torch.Tensor  # [steps, B, K]: the search's L1 per step
    descriptors: dict[str, np.ndarray]  # run.score_batch's descriptors (empty without dlib)
    seconds: float  # the batch's search time


class BatchStore:
    """The finished batches of one evaluation in ``folder``. ``settings``: everything the batches depend on
    (JSON-able). With ``resume`` False a folder that holds batches is refused (they would be lost or mixed in);
    with ``resume`` True batches made under other settings are refused, and a missing folder starts afresh."""

    def __init__(self, folder: Path, settings: dict, *, resume: bool):
        self.folder = Path(folder)
        settings = json.loads(json.dumps(settings))  # as it reads back (tuples become lists)
        stored = self.folder / SETTINGS_FILE
        if stored.exists():
            done = len(self.finished())
            if not resume:
                raise ValueError(f"{self.folder} holds an unfinished evaluation ({done} batches done): pass --resume "
                                 "to go on with it, or choose another --out")
            previous = json.loads(stored.read_text(encoding="utf-8"))
            changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
            if changed:
                raise ValueError(f"{self.folder} holds an evaluation made with other settings ({', '.join(changed)} "
                                 "differ): run it with the same ones, or choose another --out")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_json(stored, settings)

    def finished(self) -> list[int]:
        """The indices of the batches saved whole (their JSON, written last, is there)."""
        return sorted(int(path.stem.split("_")[1]) for path in self.folder.glob("batch_*.json"))

    def load(self, index: int) -> FinishedBatch | None:
        """Batch ``index``, or None when it was not finished."""
        record = self.folder / f"batch_{index:05d}.json"
        if not record.exists():
            return None
        data = json.loads(record.read_text(encoding="utf-8"))
        tensors = load_file(self.folder / f"batch_{index:05d}.safetensors")
        descriptors = {key.removeprefix("ids."): value.numpy() for key, value in tensors.items()
                       if key.startswith("ids.")}
        return FinishedBatch(data["faces"], tensors["history"], descriptors, data["seconds"])

    def save(self, index: int, batch: FinishedBatch) -> None:
        """Save batch ``index``: its tensors first, then its JSON, each through a rename, so that a batch whose
        JSON exists is whole. The JSON keeps non-finite figures (an exact fit's infinite PSNR) as Python's json
        writes them: this file is read back by :meth:`load` only."""
        stem = self.folder / f"batch_{index:05d}"
        tensors = {"history": batch.history.contiguous(),
                   **{f"ids.{key}": torch.from_numpy(np.ascontiguousarray(value))
                      for key, value in batch.descriptors.items()}}
        save_file(tensors, f"{stem}.safetensors.tmp")
        Path(f"{stem}.safetensors.tmp").replace(f"{stem}.safetensors")
        Path(f"{stem}.json.tmp").write_text(json.dumps({"faces": batch.faces, "seconds": batch.seconds}),
                                            encoding="utf-8")
        Path(f"{stem}.json.tmp").replace(f"{stem}.json")

    def remove(self) -> None:
        """Delete the folder: the evaluation it served is written out."""
        shutil.rmtree(self.folder, ignore_errors=True)


def weights_digest(*modules: torch.nn.Module) -> str:
    """A SHA-256 of the modules' parameters and buffers (names, shapes, dtypes and values): the same models give
    the same digest, a retrained or swapped one another."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            tensor = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{name} {tuple(tensor.shape)} {tensor.dtype}".encode())
            digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
