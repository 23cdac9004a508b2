"""What both trainers share: the run folder, checkpoints with exact resume, logging, and the
data-parallel plumbing.

A run folder holds::

    checkpoints/step-0000100/   Accelerate state: models, EMA, optimisers, run state, RNG (last few kept)
    samples/step-0000100.png    sample grids
    metrics.jsonl               one JSON line per logged step
    export/                     the exported model(s) in the pipeline's from_pretrained layout
    config.json                 the training config

Data parallelism: every process holds the full models and computes its share of each global batch;
:meth:`TrainingRun.average_gradients` all-reduces the gradients, so all ranks make identical updates
(and hold identical EMA weights). We average by hand instead of wrapping in DDP because the
WGAN-GP step runs the critic several times per backward pass, including a double backward for the
gradient penalty, and progressive growing leaves parameters unused; DDP handles neither without
fragile flags. Only the main process writes files.

Checkpoints store optimiser and run state with torch's pickle format (through Accelerate): resume
only from your own runs. Exports are safetensors.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.distributed as dist
from accelerate import Accelerator
from torch import nn

from ..errors import ModelLoadError
from ..jsonfile import dumps, write_json
from ..models.eval_mode import eval_mode


KEEP_CHECKPOINTS = 2
CONTENTS = "contents.json"  # in each checkpoint: which registered object is which file


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf: the run stops and the last good checkpoint stays the latest."""


@dataclass
class Phase:
    """One optimiser step of a training step, as stylegan2-ada's loss phases are: ``terms(i)`` computes the losses
    for the phase's ``i``-th repeat (the loss object's method for this phase), and the one named ``loss`` is
    descended for ``modules`` with ``optimizers`` (:meth:`TrainingRun.take`). ``repeat``: steps of this phase per
    training step (a critic's several steps per generator step)."""

    name: str
    terms: Callable[[int], dict[str, torch.Tensor]]
    loss: str
    modules: tuple[nn.Module, ...]
    optimizers: tuple
    repeat: int = 1


@dataclass
class RunConfig:
    """The settings every trainer's config has (each trainer's config extends it)."""

    log_every: int = 20  # steps between metrics lines (and status lines)
    sample_every: int = 500  # steps between sample sheets in samples/
    checkpoint_every: int = 500  # steps between checkpoints (a session's last step always writes one)
    seed: int = 0  # initial weights and the data order; resumed runs continue its random streams exactly

    def validate(self) -> None:
        """Refuse settings that cannot work together (a ``ValueError`` saying why), before any file is written.
        Each trainer's config adds its own checks; what depends on the data or the processes is checked later."""


@dataclass
class RunState:
    """The counters that, with the models and optimisers, define where a run is."""

    step: int = 0
    images_seen: int = 0
    stage: int = 0  # ProGAN only: the active stage and fade-in of the last step
    alpha: float = 1.0
    wall_seconds: float = 0.0  # training time over all sessions of this run

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class EMA:
    """Exponential moving average of a model's parameters (the weights ProGAN exports).

    The decay warms up: at step t it is min(beta, (1 + t) / (10 + t)), so the average forgets the random
    initial weights within the first few hundred steps; a fixed 0.999 would still hold 60 % of them after
    500 steps, which matters in short (CPU-sized) runs. A warm-started model's initial weights are worth
    keeping (``warmup=False``): the decay is ``beta`` from the first step, so the average is not dragged along
    while a fresh critic first finds its feet.
    """

    def __init__(self, model: nn.Module, beta: float, warmup: bool = True):
        import copy

        self.beta, self.warmup = beta, warmup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """``step``: the number of optimiser steps taken before this one."""
        beta = min(self.beta, (1 + step) / (10 + step)) if self.warmup else self.beta
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p, 1.0 - beta)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


def find_model_folder(path: str | Path, part: str) -> Path:
    """The ``part`` model folder (config.json + model.safetensors) in a pipeline folder, a run's ``export/``,
    a run folder, or the model folder itself."""
    path = Path(path)
    for folder in (path / part, path / "export" / part, path):
        if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
            return folder
    raise ModelLoadError(f"no {part} model in {path}: expected {path}/{part}/config.json and model.safetensors "
                         f"(a pipeline folder or a run's export/)")


def epoch_batch_indices(position: int, batch: int, num_images: int, seed: int) -> torch.Tensor:
    """The global batch starting at ``position`` (images drawn so far) in a stream of per-epoch
    permutations: every image once per epoch, and a pure function of its arguments, so resumable."""
    out: list[int] = []
    while len(out) < batch:
        epoch, offset = divmod(position + len(out), num_images)
        perm = torch.randperm(num_images, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        out.extend(perm[offset:offset + batch - len(out)].tolist())
    return torch.tensor(out)


def _logged_step(line: str) -> int | None:
    """The step of a metrics line; None for a line cut short by a kill while it was written."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def checkpointed_state(checkpoint: Path, name: str) -> dict:
    """The saved state of the object registered as ``name`` in ``checkpoint`` (a ``step-N`` folder), found by the
    checkpoint's ``contents.json``. Loaded with ``weights_only=True``: checkpoints are the run's own files, but
    nothing here unpickles code."""
    contents = json.loads((Path(checkpoint) / CONTENTS).read_text())
    if name not in contents:
        raise KeyError(f"{checkpoint} holds {', '.join(contents)}; no {name!r}")
    return torch.load(Path(checkpoint) / contents[name], weights_only=True)


class TrainingRun:
    def __init__(self, run_dir: str | os.PathLike, config: dict, accelerator: Accelerator | None = None):
        self.accelerator = accelerator or Accelerator()
        self.dir = Path(run_dir)
        self.state = RunState()
        self.is_main = self.accelerator.is_main_process
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.device = self.accelerator.device
        self.local_images = 0  # images this process handled in this session
        self.checkpointed: list[tuple[str, str]] = []  # (name, file) of what every checkpoint holds (register)
        self._session_start = time.perf_counter()
        self._wall_at_start = 0.0
        if self.is_main:
            for sub in ("checkpoints", "samples", "export"):
                (self.dir / sub).mkdir(parents=True, exist_ok=True)
            write_json(self.dir / "config.json", config)
        self.accelerator.wait_for_everyone()

    def print(self, *args) -> None:
        if self.is_main:
            print(*args, flush=True)

    # ------------------------------------------------------------------ checkpoints
    def register(self, **objects) -> None:
        """Objects with state_dict()/load_state_dict() saved in every checkpoint, by name. Accelerate numbers
        their files in registration order (``custom_checkpoint_N.pkl``); each checkpoint's ``contents.json`` says
        which name is which file, so that nothing has to know the order (:func:`checkpointed_state`)."""
        first = len(self.checkpointed)
        self.checkpointed += [(name, f"custom_checkpoint_{first + i}.pkl") for i, name in enumerate(objects)]
        self.accelerator.register_for_checkpointing(*objects.values())

    def complete_checkpoints(self) -> list[Path]:
        """The *complete* checkpoints, oldest first: ``step-N`` exists only once its save has finished (the save
        writes ``step-N.tmp`` and renames it), so the leftovers of a killed save, ``*.tmp`` and ``*.old``, never
        match."""
        return sorted(p for p in (self.dir / "checkpoints").glob("step-???????") if p.is_dir())

    def latest_checkpoint(self) -> Path | None:
        found = self.complete_checkpoints()
        return found[-1] if found else None

    def save_checkpoint(self) -> Path:
        """Write to a temporary folder, then rename: a run killed mid-save keeps its previous checkpoint."""
        self.state.wall_seconds = self.wall_seconds()
        final = self.dir / "checkpoints" / f"step-{self.state.step:07d}"
        tmp, old = final.with_name(final.name + ".tmp"), final.with_name(final.name + ".old")
        if self.is_main:
            shutil.rmtree(tmp, ignore_errors=True)  # a killed save's files must not mix with this one's
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(tmp))
        self.accelerator.wait_for_everyone()
        if self.is_main:
            write_json(tmp / CONTENTS, dict(self.checkpointed))
            if final.exists():  # the same step saved twice: move the old one aside, never delete it first
                shutil.rmtree(old, ignore_errors=True)
                final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
            for stale in self.complete_checkpoints()[:-KEEP_CHECKPOINTS]:
                shutil.rmtree(stale)
        self.accelerator.wait_for_everyone()
        return final

    def remove_unfinished_saves(self) -> list[Path]:
        """Delete what killed saves left behind (``step-N.tmp``, ``step-N.old``), saying so; returns them."""
        leftovers = sorted((self.dir / "checkpoints").glob("step-???????.tmp")) + \
            sorted((self.dir / "checkpoints").glob("step-???????.old"))
        if self.is_main:
            for path in leftovers:
                self.print(f"removing {path}: a checkpoint save that did not finish (the run was stopped during it)")
                shutil.rmtree(path, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return leftovers

    def resume(self) -> bool:
        """Load the latest complete checkpoint if there is one; returns whether it did."""
        self.remove_unfinished_saves()
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            return False
        self.accelerator.load_state(str(checkpoint))
        if self.is_main:  # forget what was logged after the checkpoint: those steps run again
            metrics = self.dir / "metrics.jsonl"
            if metrics.exists():
                lines = [line for line in metrics.read_text().splitlines()
                         if (step := _logged_step(line)) is not None and step <= self.state.step]
                metrics.write_text("".join(line + "\n" for line in lines))
        self._wall_at_start = self.state.wall_seconds
        self._session_start = time.perf_counter()
        self.print(f"resumed from {checkpoint} (step {self.state.step}, {self.state.images_seen} images)")
        return True

    # ------------------------------------------------------------------ session control
    def begin_session(self, max_steps: int | None, max_minutes: float | None) -> None:
        """This session stops (with a checkpoint) after ``max_steps`` steps or ``max_minutes`` minutes."""
        self._session_steps, self._max_steps = 0, max_steps
        self._tick = (time.perf_counter(), self.state.images_seen)  # the throughput is measured from here
        self._deadline = time.time() + 60 * max_minutes if max_minutes else None

    def end_step(self, checkpoint_every: int, sync: tuple[nn.Module, ...] = ()) -> bool:
        """After a step (``state.step`` already counted): checkpoint when one is due or the session must
        stop. ``sync``: models whose buffers are averaged over ranks first. Returns whether to stop."""
        self._session_steps += 1
        stop = (self._max_steps is not None and self._session_steps >= self._max_steps) or \
            (self._deadline is not None and time.time() > self._deadline)
        if self.state.step % checkpoint_every == 0 or stop:
            self.average_buffers(*sync)
            self.save_checkpoint()
        return stop

    def finish(self, checkpoint_every: int, model: nn.Module, part: str, sync: tuple[nn.Module, ...] = ()) -> Path:
        """At the end of training: the final checkpoint (if the last step did not write one) and the export of
        ``model`` to ``export/<part>/`` in the pipeline's layout, with ``<part>_training.json`` beside it."""
        if self.state.step % checkpoint_every:
            self.average_buffers(*sync)
            self.save_checkpoint()
        return self.export(model, part, self.dir / "export")

    def export(self, model: nn.Module, part: str, folder: Path) -> Path:
        """Save ``model`` to ``folder/<part>/`` in the pipeline's layout, with ``<part>_training.json`` (steps,
        images, wall time, hardware) beside it. Only the main process writes."""
        if self.is_main:
            with eval_mode(model):
                model.save_pretrained(folder / part)
            write_json(folder / f"{part}_training.json",
                       {"steps": self.state.step, "images_seen": self.state.images_seen,
                        "wall_seconds": round(self.wall_seconds()), "processes": self.world,
                        "device": str(self.device)})
            self.print(f"exported {part} to {folder / part}")
        return folder / part

    def snapshot(self, model: nn.Module, part: str) -> Path:
        """:meth:`export` ``model`` to ``snapshots/step-N/<part>/``, N the current step (what publish.py's
        --snapshot and --degradation-snapshot name)."""
        return self.export(model, part, self.dir / "snapshots" / f"step-{self.state.step:07d}")

    def wall_seconds(self) -> float:
        return self._wall_at_start + time.perf_counter() - self._session_start

    # ------------------------------------------------------------------ data parallel
    def average_buffers(self, *models: nn.Module) -> None:
        """Average float buffers (batch-norm statistics) over ranks, so the saved model is everyone's."""
        if self.world == 1:
            return
        for m in models:
            for b in m.buffers():
                if b.is_floating_point():
                    dist.all_reduce(b)
                    b /= self.world

    def average_gradients(self, *models: nn.Module) -> None:
        if self.world == 1:
            return
        grads = [p.grad for m in models for p in m.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def rank_slice(self, indices: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch of indices."""
        return indices[self.rank::self.world]

    def step_generator(self, salt: int = 0) -> torch.Generator:
        """A generator seeded by (step, rank, salt): random draws that are reproduced exactly on resume."""
        return torch.Generator().manual_seed(((self.state.step * 1009 + self.rank) * 7919 + salt) % 2**63)

    def take(self, phases: Sequence[Phase]) -> dict[str, torch.Tensor]:
        """One training step: every phase in order, each repeat descended; the terms of each phase's last repeat,
        merged into one record for the log."""
        logged = {}
        for phase in phases:
            for i in range(phase.repeat):
                terms = phase.terms(i)
                self.descend(terms, phase.loss, phase.modules, *phase.optimizers)
            logged.update(terms)
        return logged

    def descend(self, terms: dict, loss: str, modules: tuple[nn.Module, ...], *optimizers) -> None:
        """One phase's optimiser step on ``terms[loss]``, as every trainer takes it: refuse a non-finite loss (the
        run stops at its last complete checkpoint), clear the optimisers' gradients, backpropagate, average the
        gradients of ``modules`` over the processes, step every optimiser (in the order given)."""
        self.check_finite(**{loss: terms[loss]})
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        terms[loss].backward()
        self.average_gradients(*modules)
        for optimizer in optimizers:
            optimizer.step()

    # ------------------------------------------------------------------ logging
    def check_finite(self, **losses: torch.Tensor) -> None:
        bad = {k: v.item() for k, v in losses.items() if not math.isfinite(v.item())}
        if bad:
            last = self.latest_checkpoint()
            raise NonFiniteLossError(
                f"non-finite loss at step {self.state.step}: {bad}. Stopping; the last good checkpoint is "
                f"{last or 'none (no checkpoint was written yet)'}. Lower the learning rate or check the data, "
                f"then continue with --resume.")

    def log(self, record: dict) -> None:
        """Append a metrics line (main process). Collective: every rank must call it. ``rank_images``
        records how many images each process has handled in this session, proof that all took part."""
        counts = torch.tensor([self.local_images], device=self.device)
        record["rank_images"] = self.accelerator.gather(counts).tolist()
        if self.is_main:
            record = {"step": self.state.step, "images": self.state.images_seen,
                      "wall_s": round(self.wall_seconds(), 2), **record}
            with open(self.dir / "metrics.jsonl", "a") as f:
                f.write(dumps(record, indent=None) + "\n")

    def log_step(self, record: dict) -> float:
        """:meth:`log` ``record`` with the status figures both trainers report: ``img_s`` (images per second
        since the last status line, all processes together) and ``mem_mb`` (peak memory). Returns img_s."""
        now, images = time.perf_counter(), self.state.images_seen
        img_s = (images - self._tick[1]) / max(now - self._tick[0], 1e-9)
        self._tick = (now, images)
        self.log({**record, "img_s": round(img_s, 2), "mem_mb": round(self.memory_mb())})
        return img_s

    def memory_mb(self) -> float:
        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
