"""Distil the teacher (MobileStyleGAN) into the style student: z → the teacher's 64×64 corpus face, paired.

Every step takes a batch of (z, teacher face) pairs, from the pair cache (``teacher_pairs``: on a CPU, a background
writer fills it while this trains) or drawn on the fly from the torch teacher (a GPU), and fits the student's
synthesis to them with three L1 terms: on the image, on its area pyramid (the pose, the colours: the coarse
structure first) and on its high-pass (the detail an L1 alone gives up first: eyes, teeth, hair lines). The mapping
is the teacher's, frozen. No pretrained image network (VGG) exists offline; two perceptual terms do: the teacher's
own block activations (``hint_weight``: ``teacher_hints``, FitNets' hints), and, in the adversarial fine-tune
(``gan_weight``, the ``cpu-finetune`` config), a critic whose features are matched between the student's face and
the teacher's, the perceptual term of pix2pixHD.

The run folder is the ProGAN trainer's (``run.TrainingRun``): checkpoints with bit-exact resume, ``--max-minutes``,
EMA weights for samples, snapshots and the export, ``metrics.jsonl`` with the held-out PSNR against the teacher.
The pair pool is part of the resumed state: it grows only every ``refresh_every`` steps, and a checkpoint records
how many shards it held, so a resumed run reads the same pairs as the run it continues.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..evaluation.metrics import sharpness
from ..grid import image_grid
from ..images import from_uint8
from ..models import (HEAD_CHANNELS, PROGAN_CHANNELS, STYLE_CHANNELS, ProGANDiscriminator, StyleStudentGenerator,
                      TrunkStudentGenerator, load_generator)
from ..models.trunk_student import find_head, load_head
from .progan import ProGANConfig, ProGANLoss, pyramid_l1
from .run import EMA, Phase, RunConfig, TrainingRun, find_model_folder
from .teacher_hints import TeacherHints
from .teacher_pairs import read_mapping, read_shards


@dataclass
class DistillConfig(RunConfig):
    # "style-student": every resolution learned (``channels``); "style-trunk": the teacher's own synthesis up to
    # ``trunk_resolution``, copied and frozen, and a learned head (``head_channels``) from there to the face.
    family: str = "style-student"
    channels: tuple[int, ...] = STYLE_CHANNELS["cpu"]
    trunk_resolution: int = 16
    head_channels: tuple[int, ...] = HEAD_CHANNELS["cpu"]
    # Global, over all processes. On a CPU the student learns per step, not per image: at the same 19,200 images,
    # batch 8 reached val_psnr 18.38 and batch 32 17.91, at the same img/s (2 idle cores; lr 2e-3 to 1e-2 and
    # 2× the widths changed nothing per step: train/default_checkpoint/distill_trials.md).
    batch_size: int = 8
    total_steps: int = 100_000
    lr: float = 2e-3
    # A regression, not a GAN: momentum helps. 400 steps from scratch on the CPU (val_psnr): β1 = 0: 17.39 dB,
    # β1 = 0.9: 17.61 at lr 2e-3, 17.59 at 5e-3, 17.40 at 1e-2.
    betas: tuple[float, float] = (0.9, 0.99)
    ema_beta: float = 0.998
    l1_weight: float = 1.0
    pyramid_weight: float = 1.0
    detail_weight: float = 2.0  # L1 between the images' high-pass (image minus its 3×3 box blur)
    pair_source: str = "cache"  # "cache": the pair folder given to train(); "on-the-fly": the torch teacher, each step
    refresh_every: int = 250  # steps between looks for new shards in the cache
    held_out: int = 64  # the cache's first pairs (or as many fixed z on the fly), never trained on: val_psnr
    teacher_batch: int = 32  # on the fly: faces per teacher pass (its 512-px maps take 2 GB per 32 faces)
    init_from: str = ""  # start from this student (a pipeline folder, a run's export/ or a generator/ folder)
    snapshot_every: int = 1000  # export the EMA student to snapshots/step-N/generator (0: never)
    # The adversarial fine-tune (gan_weight > 0), after the paired terms have done what they can: a ProGAN critic at
    # 64×64 on teacher faces against the student's (WGAN-GP, the drift term, DiffAugment, the lazy penalty: the
    # ProGAN trainer's own critic step), and critic feature matching between the student's face and the teacher's
    # for the same z (the perceptual term that exists offline).
    gan_weight: float = 0.0
    feature_weight: float = 0.0
    critic_channels: tuple[int, ...] = PROGAN_CHANNELS["small"]
    lr_d: float = 2e-3
    gp_every: int = 4
    diffaugment: str = "color,translation"
    init_critic: str = ""  # start the critic from this folder (a snapshot's or export's critic/); "": fresh
    # "image": the critic judges the face; "high-pass": only its detail (HighPassCritic, frequency separation). On the
    # warm start, frozen, a compact critic on images scored teacher and student faces within ±1.5 of each other
    # after 400 steps (the faces differ most in what a face is, least in the detail), and on their high-pass 2-4.5
    # apart at every check from step 50 (distill_trials.md, item 12).
    critic_input: str = "image"
    # Teacher hints (teacher_hints.py): the L1 between the student's feature maps at these resolutions, through a
    # 1×1 adapter, and the teacher's block activations at twice the resolution, cropped to the framing. The teacher
    # runs in every step then (the teacher extra, also with pairs from the cache).
    hint_weight: float = 0.0
    hint_resolutions: tuple[int, ...] = (16,)

    def validate(self) -> None:
        if self.family not in STUDENT_FAMILIES:
            raise ValueError(f"family must be one of {sorted(STUDENT_FAMILIES)}, got {self.family!r}")
        if self.family == "style-trunk" and self.hint_weight:
            raise ValueError("teacher hints teach a student's own coarse layers; the trunk student's are the "
                             "teacher's: set hint_weight 0")
        if self.critic_input not in ("image", "high-pass"):
            raise ValueError(f"critic_input must be 'image' or 'high-pass', got {self.critic_input!r}")
        if self.pair_source not in ("cache", "on-the-fly"):
            raise ValueError(f"pair_source must be 'cache' or 'on-the-fly', got {self.pair_source!r}")
        if self.hint_weight < 0 or (self.hint_weight and not self.hint_resolutions):
            raise ValueError(f"hint_weight must be >= 0 and needs hint_resolutions, got {self.hint_weight} and "
                             f"{self.hint_resolutions}")


STUDENT_FAMILIES = {"style-student": StyleStudentGenerator, "style-trunk": TrunkStudentGenerator}

DISTILL_CONFIGS = {
    "cpu": DistillConfig(),  # batch 8, pairs from the cache
    # One H200 (train/gpu_distill.sh: 6 minutes by default): fresh pairs every step, a large batch.
    "gpu": DistillConfig(batch_size=256, lr=3e-3, pair_source="on-the-fly", ema_beta=0.995, log_every=50,
                         sample_every=250, checkpoint_every=250, snapshot_every=250),
    "tiny": DistillConfig(channels=STYLE_CHANNELS["tiny"], batch_size=4, total_steps=8, log_every=1, sample_every=4,
                          checkpoint_every=4, snapshot_every=4, refresh_every=4, held_out=4,
                          critic_channels=PROGAN_CHANNELS["tiny"]),
}
# The adversarial fine-tune of a distilled student (--init-from it), on the recipe that sharpened the compact ProGAN
# (its compact-finetune: the critic at full weight beside the paired terms, β1 = 0, G lr 2e-4, critic lr 1e-3, EMA
# 0.999). Trial 1 (gan_weight 0.05, feature_weight 1, lr 5e-4, β1 = 0.9) had sharpened nothing after 1,440 steps:
# at 1/20 of the paired terms' weight the critic barely moves the student (distill_trials.md).
# The cpu recipe with the teacher's block activations as a perceptual term (teacher_hints.py): the teacher's 16- and
# 32-px blocks hint the student's 8- and 16-px ones. The term starts near 0.9 (relative L1) against about 0.2 for the
# paired terms of a warm start; 0.25 makes the two alike. A step costs about 2.5× the cpu recipe's.
DISTILL_CONFIGS["cpu-hints"] = dataclasses.replace(DISTILL_CONFIGS["cpu"], hint_weight=0.25, hint_resolutions=(8, 16))
DISTILL_CONFIGS["cpu-finetune"] = dataclasses.replace(DISTILL_CONFIGS["cpu"], batch_size=16, gan_weight=1.0,
                                                      feature_weight=0.0, lr=2e-4, betas=(0.0, 0.99), lr_d=1e-3,
                                                      critic_channels=PROGAN_CHANNELS["compact"], ema_beta=0.999,
                                                      snapshot_every=500)
# Frequency separation: the fine-tune's critic judges only the detail (HighPassCritic), and no L1 on the high-pass
# pulls the detail back to its average. The critic's gradient has no low frequencies, so it cannot move the face the
# paired terms hold (distill_trials.md, item 12).
DISTILL_CONFIGS["cpu-sharpen"] = dataclasses.replace(DISTILL_CONFIGS["cpu-finetune"], critic_input="high-pass",
                                                     detail_weight=0.0)
# The trunk student (models/trunk_student.py): the teacher's synthesis to 16 px, frozen, and a head trained on the
# cpu recipe (then, with --init-from, cpu-trunk-finetune). From scratch on 1,984 fresh pairs its head passed the
# style student's 47,000-step warm start within 400-800 steps (distill_trials.md, item 10).
for _trunk, _style in {"cpu-trunk": "cpu", "gpu-trunk": "gpu", "tiny-trunk": "tiny",
                        "cpu-trunk-finetune": "cpu-finetune", "cpu-trunk-sharpen": "cpu-sharpen"}.items():
    DISTILL_CONFIGS[_trunk] = dataclasses.replace(DISTILL_CONFIGS[_style], family="style-trunk",
                                                  head_channels=HEAD_CHANNELS["tiny" if _style == "tiny" else "cpu"])


@torch.no_grad()
def teacher_faces(teacher, z: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([teacher(chunk).clamp(-1, 1) for chunk in z.split(batch)])


def high_pass(images: torch.Tensor) -> torch.Tensor:
    return images - F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


class HighPassCritic(nn.Module):
    """The critic judging only an image's detail (its high-pass, amplified), as frequency separation does (Fritsche,
    Gu and Timofte, "Frequency Separation for Real-World Super-Resolution", 2019): the paired terms keep the low
    frequencies the teacher's, and the critic asks for detail that looks like the teacher's, where an L1 averages it
    away. It owns no weights: the critic is trained, saved and resumed as before. Augmentation comes first (the
    loss augments what it passes in), then the filter."""

    GAIN = 4.0  # the high-pass of a face is about a quarter of the image's range

    def __init__(self, critic: ProGANDiscriminator):
        super().__init__()
        self.critic = critic

    def forward(self, images: torch.Tensor, stage: int | None = None, alpha: float = 1.0, **kwargs) -> torch.Tensor:
        return self.critic(self.GAIN * high_pass(images), stage, alpha, **kwargs)


def psnr(fake: torch.Tensor, real: torch.Tensor) -> float:
    mse = (fake.clamp(-1, 1) - real).square().mean().item()
    return 10 * torch.log10(torch.tensor(4.0 / max(mse, 1e-12))).item()  # the range [-1, 1] is 2 wide


class PairPool:
    """The cache's pairs as of the last refresh; its state (the shard count) is checkpointed."""

    def __init__(self, folder: Path | None, held_out: int):
        self.folder, self.held_out, self.shards = folder, held_out, 0
        self.z = self.faces = None

    def state_dict(self) -> dict:
        return {"shards": self.shards}

    def load_state_dict(self, state: dict) -> None:
        self.shards = int(state["shards"])

    def load(self, refresh: bool) -> None:
        """Read the cache: every complete shard (``refresh``), or exactly the recorded count (a resume). Once the
        pool holds pairs, a refresh reads only the shards written since."""
        if self.z is None:
            self.z, self.faces, self.shards = read_shards(self.folder,
                                                          None if refresh or not self.shards else self.shards)
        elif refresh:
            z, faces, self.shards = read_shards(self.folder, start=self.shards)
            self.z, self.faces = torch.cat([self.z, z]), torch.cat([self.faces, faces])
        if len(self.z) <= self.held_out:
            raise ValueError(f"{self.folder} holds {len(self.z)} pairs: fewer than held_out + 1 "
                             f"({self.held_out + 1}); let train/make_teacher_pairs.py write a shard first")

    def batch(self, size: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(self.held_out, len(self.z), (size,), generator=rng)
        return self.z[index], from_uint8(self.faces[index])

    def held_out_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.z[:self.held_out], from_uint8(self.faces[:self.held_out])


class DistillLoss:
    """The paired terms, and with ``gan_weight`` a critic: one method per phase (critic, student)."""

    LAST_STAGE = 4  # the ProGAN critic at 64×64, faded in

    def __init__(self, config: DistillConfig, critic: ProGANDiscriminator | None = None,
                 hints: TeacherHints | None = None):
        self.config, self.critic, self.hints = config, critic, hints
        if critic is not None:  # the ProGAN trainer's critic step, lazy penalty and feature matching, as they are
            judge = HighPassCritic(critic) if config.critic_input == "high-pass" else critic
            self.gan = ProGANLoss(ProGANConfig(gp_every=config.gp_every, diffaugment=config.diffaugment), None, judge)

    def critic_step(self, real: torch.Tensor, fake: torch.Tensor, rng: torch.Generator, step: int) -> dict:
        return self.gan.critic_step(real, fake, self.LAST_STAGE, 1.0, rng, step)

    def student_step(self, fake: torch.Tensor, target: torch.Tensor, rng: torch.Generator,
                     hinted: tuple[dict, dict] | None = None) -> dict[str, torch.Tensor]:
        """``hinted``: the student's feature maps and the teacher's hint targets (with ``hints``)."""
        c = self.config
        terms = {"l1": (fake - target).abs().mean(), "pyramid": pyramid_l1(fake, target),
                 "detail": (high_pass(fake) - high_pass(target)).abs().mean()}
        terms["loss"] = c.l1_weight * terms["l1"] + c.pyramid_weight * terms["pyramid"] + \
            c.detail_weight * terms["detail"]
        if self.hints is not None:
            terms["hints"] = self.hints.loss(*hinted)
            terms["loss"] = terms["loss"] + c.hint_weight * terms["hints"]
        if self.critic is not None:
            terms["adversarial"] = self.gan.adversarial(fake, self.LAST_STAGE, 1.0, rng)
            terms["loss"] = terms["loss"] + c.gan_weight * terms["adversarial"]
            if c.feature_weight:  # two more critic passes: a third of the step's time at batch 16 on a CPU
                terms["features"] = self.gan.feature_matching(fake, target, self.LAST_STAGE, 1.0)
                terms["loss"] = terms["loss"] + c.feature_weight * terms["features"]
        return terms


def _student(config: DistillConfig, pairs_dir: Path | None, teacher) -> StyleStudentGenerator | TrunkStudentGenerator:
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    if config.family == "style-trunk":
        student = TrunkStudentGenerator(trunk_resolution=config.trunk_resolution, head_channels=config.head_channels)
    else:
        student = StyleStudentGenerator(channels=config.channels)
    head = _head_folder(config) if config.family == "style-trunk" else None
    if config.init_from and head is None:
        initial = load_generator(find_model_folder(config.init_from, "generator"))
        shapes = [{k: v.shape for k, v in model.state_dict().items()} for model in (initial, student)]
        if type(initial) is not type(student) or shapes[0] != shapes[1]:
            raise ValueError(f"init_from {config.init_from} is not a {config.family} with this config's widths")
        student.load_state_dict(initial.state_dict())
    elif config.family == "style-trunk":  # the trunk's weights are the teacher's: the teacher extra is needed here
        student.copy_from_teacher(teacher or _load_teacher("cpu"))
        if head is not None:  # a head alone (train/pack_trunk_head.py)
            load_head(student, head)
    elif teacher is not None:
        student.mapping.copy_from_teacher(teacher)
    else:
        student.mapping.load_state_dict(read_mapping(pairs_dir))
    return student


def _head_folder(config: DistillConfig) -> Path | None:
    """The folder of a trunk head to start from (``--init-from`` a pack_trunk_head.py folder), or None."""
    return find_head(config.init_from) if config.init_from else None


def _load_teacher(device):
    from ..models.teacher import MobileStyleGANTeacher

    return MobileStyleGANTeacher().to(device).eval().requires_grad_(False)


def train(pairs_dir: Path | None, out_dir: Path, config: DistillConfig, resume: bool = False,
          max_steps: int | None = None, max_minutes: float | None = None) -> TrainingRun:
    config.validate()
    if config.pair_source == "cache" and pairs_dir is None:
        raise ValueError("pair_source = 'cache' needs the pair folder (train/make_teacher_pairs.py writes one)")
    run = TrainingRun(out_dir, {"trainer": "distill", "pairs": str(pairs_dir), **dataclasses.asdict(config)})
    if config.batch_size % run.world:
        raise ValueError(f"batch size {config.batch_size} is not divisible by the {run.world} processes")
    teacher = None
    if config.pair_source == "on-the-fly" or config.hint_weight:
        teacher = _load_teacher(run.device)
    # the teacher that draws the pairs; None: the cache's pairs (the teacher, if any, then only gives hints)
    pair_teacher = teacher if config.pair_source == "on-the-fly" else None
    student = _student(config, pairs_dir, pair_teacher).to(run.device).train()
    ema = EMA(student, config.ema_beta, warmup=not config.init_from)
    hints = None
    if config.hint_weight:
        torch.manual_seed(config.seed + 2)  # the same adapters on every rank
        hints = TeacherHints.for_models(student, teacher, config.hint_resolutions).to(run.device).train()
    trained = [p for p in student.synthesis.parameters() if p.requires_grad]  # (a trunk student's head only)
    trained += list(hints.parameters()) if hints is not None else []
    optimizer = torch.optim.Adam(trained, lr=config.lr, betas=config.betas, eps=1e-8)
    pool = PairPool(pairs_dir, config.held_out if pair_teacher is None else 0)
    critic = _critic(config, student.resolution)
    run.register(student=student, ema=ema, optimizer=optimizer, state=run.state, pool=pool)
    if hints is not None:
        run.register(hints=hints)
    if critic is not None:
        critic = critic.to(run.device).train()
        opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr_d, betas=(0.0, 0.99), eps=1e-8)
        run.register(critic=critic, opt_d=opt_d)
    resumed = run.resume() if resume else False
    if pair_teacher is None:
        pool.load(refresh=not resumed)
    held_z, held_faces = _held_out(pool, pair_teacher, config, run.device)
    loss = DistillLoss(config, critic, hints)
    bar = tqdm(total=config.total_steps, initial=run.state.step, unit="step", disable=not run.is_main,
               dynamic_ncols=True)
    run.begin_session(max_steps, max_minutes)
    while run.state.step < config.total_steps:
        if pair_teacher is None and run.state.step and run.state.step % config.refresh_every == 0:
            pool.load(refresh=True)
        rng = run.step_generator()
        z, target = _batch(pool, pair_teacher, config, run, rng)
        w = student.mapping(z)  # student(z), with the feature maps the hints read
        fake, features = student.synthesis.forward_with_features(w)
        hinted = (features, hints.targets(teacher, w)) if hints is not None else None
        phases = [Phase("critic", lambda _: loss.critic_step(target, fake, rng, run.state.step), "loss_d",
                        (critic,), (opt_d,))] if critic is not None else []  # (opt_d exists with the critic only)
        phases.append(Phase("student", lambda _: loss.student_step(fake, target, rng, hinted), "loss",
                            (student, *([hints] if hints is not None else [])), (optimizer,)))
        terms = run.take(phases)
        ema.update(student, run.state.step)
        run.local_images += z.shape[0]
        run.state.step += 1
        run.state.images_seen += config.batch_size
        bar.update(1)
        if run.state.step % config.log_every == 0:
            with torch.no_grad():
                held_fakes = ema.model(held_z.to(run.device)).cpu().clamp(-1, 1)
            # sharpness: the held-out faces' fine detail against the teacher's (1: as sharp; an L1 alone gives ~0.25).
            # pairs: the pool's size, or on the fly the fresh pairs drawn so far
            record = {**{k: round(float(v.detach()), 5) for k, v in terms.items()},
                      "val_psnr": round(psnr(held_fakes, held_faces), 3),
                      "sharpness": round(sharpness(held_fakes, held_faces), 4),
                      "pairs": len(pool.z) if pair_teacher is None else run.state.images_seen}
            img_s = run.log_step(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}", val_psnr=f"{record['val_psnr']:.2f}", img_s=f"{img_s:.0f}")
        if run.state.step % config.sample_every == 0 and run.is_main:
            save_samples(ema.model, held_z[:8], held_faces[:8], run.dir / "samples" / f"step-{run.state.step:07d}.png")
        if config.snapshot_every and run.state.step % config.snapshot_every == 0:
            folder = run.snapshot(ema.model, "generator").parent
            if critic is not None:  # what a warm start of the fine-tune needs (--init-from, --init-critic)
                run.export(critic, "critic", folder)
        if run.end_step(config.checkpoint_every):
            break
    bar.close()
    if run.state.step >= config.total_steps:
        run.finish(config.checkpoint_every, ema.model, "generator")
        if critic is not None:
            run.export(critic, "critic", run.dir / "export")
    return run


def _held_out(pool: PairPool, teacher, config: DistillConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The val_psnr pairs: the cache's first ones, or on the fly fixed z that no step draws (a step's z come from
    its step generator), with the teacher's faces."""
    if teacher is None:
        return pool.held_out_pairs()
    z = torch.randn(config.held_out, 512, generator=torch.Generator().manual_seed(config.seed + 12345))
    return z, teacher_faces(teacher, z.to(device), config.teacher_batch).cpu()


def _batch(pool: PairPool, teacher, config: DistillConfig, run: TrainingRun,
           rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's share of the step's (z, teacher face) pairs, on its device."""
    if teacher is None:
        z, target = pool.batch(config.batch_size, rng)
        return run.rank_slice(z).to(run.device), run.rank_slice(target).to(run.device)
    z = run.rank_slice(torch.randn(config.batch_size, 512, generator=rng)).to(run.device)
    return z, teacher_faces(teacher, z, config.teacher_batch)


def _critic(config: DistillConfig, resolution: int) -> ProGANDiscriminator | None:
    if not config.gan_weight:
        if config.feature_weight or config.init_critic:
            raise ValueError("feature_weight and init_critic need the critic: set gan_weight > 0")
        return None
    torch.manual_seed(config.seed + 1)  # the same initial critic on every rank
    critic = ProGANDiscriminator(config.critic_channels)
    if critic.resolution != resolution:
        raise ValueError(f"critic_channels {config.critic_channels} make a {critic.resolution}×{critic.resolution} "
                         f"critic; the student makes {resolution}×{resolution} faces")
    if config.init_critic:
        critic.load_state_dict(ProGANDiscriminator.from_folder(find_model_folder(config.init_critic, "critic"))
                               .state_dict())
    return critic


@torch.no_grad()
def save_samples(student: nn.Module, z: torch.Tensor, targets: torch.Tensor, path: Path) -> None:
    """Two rows: the teacher's faces, then the student's for the same z."""
    fakes = student(z.to(next(student.parameters()).device)).cpu().clamp(-1, 1)
    image_grid(torch.cat([targets, fakes]), columns=len(z)).save(path)
