"""Progressive-growing WGAN-GP training of the ProGAN generator (Karras et al. 2018).

Stages grow 4×4 → 64×64. In every stage after the first, the first half of its images fades the new
layers in (alpha 0 → 1), the second half stabilises them. The schedule is a pure function of the
number of images seen, so a resumed run continues exactly where it stopped. The exported generator
is the exponential moving average of the trained one.

When the data folder holds the latent z_i of each face (a corpus made by a known generator), a paired
loss pulls G(z_i) towards face i (``distill_weight``): an L1 averaged over an image pyramid, so coarse
structure counts as much as fine detail. With ``latent_lr`` > 0 the z_i start from the given latents and
are learned too, on the sphere that G sees (as GLO, Bojanowski et al. 2018, learns one code per image):
the student then need not reproduce the teacher's exact z → face mapping, only cover the same faces
with well-spread codes, which a small generator learns many times faster. ``gan_weight`` = 0 switches
the adversarial loss and the critic off (each critic step with its gradient penalty costs several
generator steps).

Fine-tuning a trained generator adversarially (``init_from``, with a schedule that starts at the last stage,
e.g. ``stage_epochs=(0, 0, 0, 0, N)``): a fresh critic (or ``init_critic``) sharpens the faces, and the
*anchor* keeps what the latent search needs. It is an L1 between G(z) and the initial generator G0(z) on
the same z, on images area-downsampled to ``anchor_resolution`` (16: the LR side the search compares) and
coarser, so the layout, pose and colouring that G0 learned stay, and only the detail above 16×16, which the
anchor does not see, is left to the critic. Without it, a short trial broke the face structure into colour
artefacts before any sharpening showed.

Speed on a CPU: the gradient penalty can be lazy (``gp_every`` = k: on every k-th critic step, weighted ×k,
as StyleGAN2 does for R1), the critic's weights take no gradients in the generator step, one generator
forward pass serves both steps, and ``precision="bf16"`` runs both networks under bfloat16 autocast.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .data import ImageFolderDataset
from ..grid import image_grid
from ..images import from_uint8
from ..models import PROGAN_CHANNELS, ProGANDiscriminator, ProGANGenerator
from ..search import project_to_sphere
from .augment import diff_augment, parse_policy, xflip
from .losses import gradient_penalty
from .precision import PRECISIONS, resolve_precision
from .run import EMA, Phase, RunConfig, TrainingRun, epoch_batch_indices, find_model_folder


LATENTS_FILE = "latents.safetensors"  # the z_i beside a snapshot's or export's models


@dataclass
class ProGANConfig(RunConfig):
    channels: tuple[int, ...] = PROGAN_CHANNELS["small"]
    # The critic's widths; (): the generator's. Only the generator is used by the search, so a critic wider
    # than a fast generator costs training time, not search time.
    critic_channels: tuple[int, ...] = ()
    latent_size: int = 512
    stage_epochs: tuple[float, ...] = (1, 2, 2, 2, 4)  # per stage; one epoch = one pass over the data
    batch_sizes: tuple[int, ...] = (32, 32, 32, 16, 16)  # global, over all processes
    lr: float = 1e-3
    lr_g: float = 0.0  # the generator's learning rate; 0: the same as lr (a gentler one suits fine-tuning)
    betas: tuple[float, float] = (0.0, 0.99)
    gp_lambda: float = 10.0
    gp_every: int = 1  # lazy gradient penalty: on every gp_every-th step only, weighted by gp_every
    drift: float = 1e-3  # keeps the critic's scores near 0
    ema_beta: float = 0.999
    distill_weight: float = 0.0  # paired pyramid L1 between G(z_i) and face i, when the data has latents
    latent_lr: float = 0.0  # > 0: the z_i are learned too (Adam, this learning rate), kept on the sphere
    # Feature matching (pix2pixHD): L1 between the critic's features of G(z_i) and of face i, a perceptual term
    # where no pretrained network exists offline (needs the data's latents, as distill_weight does).
    feature_weight: float = 0.0
    gan_weight: float = 1.0  # weight of the adversarial loss; 0 skips the critic entirely
    xflip: int = 1  # 1: mirror the real faces the critic sees at random (0: off)
    diffaugment: str = ""  # critic-side DiffAugment policy for reals and fakes: "", "color", "color,translation"
    # "bf16": bfloat16 autocast for the critic and generator passes; "auto": bf16 where the device does it
    # natively, else fp32 (srnam/training/precision.py: emulated bfloat16 was 13× slower on a CPU)
    precision: str = "fp32"
    init_from: str = ""  # start G from this generator (a pipeline folder, a run's export/ or a generator/ folder)
    init_critic: str = ""  # start the critic from this folder (a run's export/ or a critic/ folder); "": fresh
    # start the paired loss's z_i from this file (a snapshot's or export's latents.safetensors, or its folder)
    # instead of the data's latents: with init_from and init_critic, a snapshot continues a run whose checkpoints
    # are lost (the optimiser moments start afresh)
    init_latents: str = ""
    anchor_weight: float = 0.0  # L1 between G(z) and the initial G0(z) at <= anchor_resolution (needs init_from)
    anchor_resolution: int = 16
    # In the last stage, once faded in: export the EMA generator to snapshots/step-N/generator every this many
    # steps (0: never), so that the model can be picked by its results on held-out faces, not by the last step.
    snapshot_every: int = 0

    @property
    def paired_terms(self) -> bool:
        """Whether a loss pairs each data face with its latent (the distillation or feature term)."""
        return bool(self.distill_weight or self.feature_weight)

    def validate(self) -> None:
        if self.latent_lr and not self.paired_terms:
            raise ValueError("latent_lr > 0 learns the latents of the paired loss: it needs distill_weight > 0")
        if self.feature_weight and not self.gan_weight:
            raise ValueError("feature_weight > 0 matches the critic's features: it needs gan_weight > 0 (a critic)")
        if not self.gan_weight and not self.distill_weight:
            raise ValueError("gan_weight = 0 and distill_weight = 0 leave no loss to train with")
        if self.anchor_weight and not self.init_from:
            raise ValueError("anchor_weight > 0 anchors G to its initial weights: it needs init_from")
        if self.init_latents and not self.paired_terms:
            raise ValueError("init_latents starts the z_i of the paired loss: it needs distill_weight or "
                             "feature_weight > 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.gp_every < 1:
            raise ValueError(f"gp_every must be >= 1, got {self.gp_every}")
        if len(critic_widths(self)) != len(self.channels):
            raise ValueError(f"critic_channels {self.critic_channels} must have one width per stage, as channels "
                             f"{self.channels} has ({len(self.channels)})")
        parse_policy(self.diffaugment)


PROGAN_CONFIGS = {
    "paper": ProGANConfig(channels=PROGAN_CHANNELS["paper"], stage_epochs=(10, 20, 20, 20, 50),
                          batch_sizes=(64, 64, 64, 32, 16)),
    "small": ProGANConfig(),
    # What checkpoints/default ships: half the 'small' widths, trained on a CPU by the paired loss with learned
    # latents and no critic (benchmarks/distillation_ablation.py compares it with the adversarial variants).
    "compact": ProGANConfig(channels=PROGAN_CHANNELS["compact"], stage_epochs=(1, 2, 2, 4, 20),
                            batch_sizes=(32, 32, 32, 32, 32), distill_weight=1.0, latent_lr=0.03, gan_weight=0.0,
                            snapshot_every=500),
    # Adversarial fine-tuning of a trained 'compact' generator (--init-from it): the last stage only, a fresh
    # critic, the anchor at 16×16 (its weight: train/default_checkpoint/finetune_trials.md), a 5× gentler
    # generator learning rate, the lazy penalty and bf16 for speed (benchmarks/training_speed.py), x-flip and
    # DiffAugment against critic overfitting on 6,300 faces.
    "compact-finetune": ProGANConfig(channels=PROGAN_CHANNELS["compact"], stage_epochs=(0, 0, 0, 0, 200),
                                     batch_sizes=(32, 32, 32, 32, 32), lr_g=2e-4, gp_every=4, precision="auto",
                                     diffaugment="color,translation", anchor_weight=100.0, snapshot_every=1000,
                                     checkpoint_every=500, sample_every=500),
    "tiny": ProGANConfig(channels=PROGAN_CHANNELS["tiny"], latent_size=32, stage_epochs=(1, 1, 1, 1, 1),
                         batch_sizes=(4, 4, 4, 4, 4), log_every=1, sample_every=4, checkpoint_every=4),
}


@dataclass
class Schedule:
    """Maps images seen → (stage, alpha, batch size). ``num_images`` is the dataset size."""

    config: ProGANConfig
    num_images: int
    stage_images: list[int] = field(init=False)

    def __post_init__(self):
        self.stage_images = [int(e * self.num_images) for e in self.config.stage_epochs]

    @property
    def total_images(self) -> int:
        return sum(self.stage_images)

    def at(self, images_seen: int) -> tuple[int, float, int]:
        start = 0
        for stage, length in enumerate(self.stage_images):
            if images_seen < start + length or stage == len(self.stage_images) - 1:
                into = images_seen - start
                # Nothing to fade from when the earlier stages are skipped (a fine-tuning run at the last stage).
                faded_in = stage == 0 or not any(self.stage_images[:stage])
                alpha = 1.0 if faded_in else min(1.0, 2.0 * into / max(length, 1))
                return stage, alpha, self.config.batch_sizes[stage]
            start += length
        raise AssertionError("unreachable")


def stage_images(images: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
    """Real images at the stage's resolution, faded like the generator's output."""
    side = 4 * 2**stage
    x = F.adaptive_avg_pool2d(images, side)  # [N, 3, side, side]
    if alpha < 1.0:
        coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = coarse + (x - coarse) * alpha
    return x


def pyramid_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean L1 over the image and its 2×, 4×, … area-downsampled versions down to 4×4 ([N, 3, S, S] each)."""
    losses = [(fake - real).abs().mean()]
    while fake.shape[-1] > 4:
        fake, real = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2)
        losses.append((fake - real).abs().mean())
    return torch.stack(losses).mean()


class LatentCodes(torch.nn.Module):
    """One learnable latent per training image [N, latent_size], kept on the sphere of radius √latent_size."""

    def __init__(self, initial: torch.Tensor):
        super().__init__()
        self.codes = torch.nn.Parameter(initial.clone())
        self.project()

    @torch.no_grad()
    def project(self) -> None:
        self.codes.copy_(project_to_sphere(self.codes))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.codes[index]


class PairedLatents:
    """The latent z_i paired with each training face i, for the paired loss: the data's own latents
    (latents.npy), fixed, or learned from them (``latent_lr`` > 0: Adam, kept on the sphere). Without latents
    (no paired loss) every method is a no-op, so that the training loop has no case of its own for them."""

    def __init__(self, latents: torch.Tensor | None, learning_rate: float, device: torch.device):
        self.latents = latents  # [N, latent_size] or None
        self.codes = LatentCodes(latents).to(device) if latents is not None and learning_rate else None
        # beta1 = 0: a code outside the batch has a zero gradient and then does not move at all.
        self.optimizer = (torch.optim.Adam(self.codes.parameters(), lr=learning_rate, betas=(0.0, 0.99))
                          if self.codes is not None else None)

    @property
    def active(self) -> bool:
        return self.latents is not None

    def __call__(self, index: torch.Tensor, device: torch.device) -> torch.Tensor:
        return self.codes(index.to(device)) if self.codes is not None else self.latents[index].to(device)

    def modules(self) -> tuple:
        """What takes gradients (averaged over processes) and is checkpointed, in the checkpoint's order."""
        return (self.codes,) if self.codes is not None else ()

    def checkpointed(self) -> dict:
        """What a checkpoint must hold of the learned latents, by name (none when they are fixed)."""
        return {"latent_codes": self.codes, "latent_optimizer": self.optimizer} if self.codes is not None else {}

    def zero_grad(self, set_to_none: bool = True) -> None:  # an optimiser's interface (TrainingRun.descend)
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        if self.optimizer is not None:
            self.optimizer.step()
            self.codes.project()

    def save(self, path: Path) -> None:
        """The current z_i (learned or fixed) as ``latents`` in a safetensors file, in half precision: a warm start
        needs no more (the latents' Adam moves a code by up to its lr, 0.03, per step; float16 rounds by ~1e-3)."""
        if self.latents is not None:
            current = self.codes.codes.detach() if self.codes is not None else self.latents
            save_file({"latents": current.cpu().half().contiguous()}, str(path))


def load_latents(path: str, expected: torch.Tensor) -> torch.Tensor:
    """The ``latents`` of a file written by :meth:`PairedLatents.save` (``path``: the file or its folder), as
    float32, checked against the data's latents (one row per face, the same size)."""
    file = Path(path)
    if file.is_dir():
        file = file / LATENTS_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no latents file at {file} (snapshots and exports of runs with a paired loss "
                                f"have {LATENTS_FILE})")
    try:
        latents = load_file(str(file))["latents"].float()
    except Exception as err:  # a truncated or foreign file: say which, not a safetensors traceback
        raise ValueError(f"{file} is not a latents file ('latents' tensor in safetensors): {err}") from err
    if latents.shape != expected.shape:
        raise ValueError(f"{file} holds latents of shape {tuple(latents.shape)}, the data {tuple(expected.shape)} "
                         f"(one per face): it was written for other data")
    return latents


def load_initial(cls, path: str, part: str, config: "ProGANConfig"):
    """A warm start for ``part``, checked against the run's config so that a mismatch is named up front."""
    model = cls.from_folder(find_model_folder(path, part))
    if part == "generator":
        expected, flag = config.channels, "--channels"
    else:
        expected, flag = critic_widths(config), "--critic-channels"
    if tuple(model.channels) != tuple(expected):
        raise ValueError(f"{path}: its {part} has widths {model.channels}, the config {tuple(expected)}: "
                         f"pass {flag} {','.join(map(str, model.channels))} or the config it was trained with")
    if part == "generator" and model.latent_size != config.latent_size:
        raise ValueError(f"{path}: its generator has latent_size {model.latent_size}, the config "
                         f"{config.latent_size}: pass --latent-size {model.latent_size}")
    return model


def critic_widths(config: "ProGANConfig") -> tuple[int, ...]:
    return tuple(config.critic_channels or config.channels)


class ProGANLoss:
    """The loss terms of one training step, one method per phase (critic, generator).

    ``generator_fakes`` draws the batch's fakes once; the critic trains on them detached, then the generator
    step reuses their graph, so each step costs one generator forward pass, not two.
    """

    def __init__(self, config: "ProGANConfig", generator, critic, teacher=None, paired: PairedLatents | None = None,
                 precision: str | None = None):
        self.config, self.generator, self.critic = config, generator, critic
        self.teacher = teacher
        self.paired = paired if paired is not None else PairedLatents(None, 0.0, torch.device("cpu"))  # none
        self.policy = parse_policy(config.diffaugment)
        # the precision resolved for the device ("fp32" or "bf16"; see resolve_precision), else the config's
        self.autocast = (precision or config.precision) == "bf16"
        self.last_gp = torch.zeros(())  # the penalty of the last step that computed one (logged on the others)

    def _amp(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.autocast)

    @contextlib.contextmanager
    def _frozen_critic(self):
        """The generator's terms need no gradient for the critic's weights: a third of its backward saved."""
        self.critic.requires_grad_(False)
        try:
            yield
        finally:
            self.critic.requires_grad_(True)

    def _critic(self, images, stage, alpha, rng):
        if self.policy:
            images = diff_augment(images, self.policy, rng)
        return self.critic(images, stage, alpha).float()

    def critic_step(self, real, fake, stage, alpha, rng, step) -> dict:
        """WGAN-GP with the drift term; the penalty on every ``gp_every``-th step, weighted ×gp_every."""
        c = self.config
        if c.xflip:
            real = xflip(real, rng)
        with self._amp(real.device):
            d_real, d_fake = self._critic(real, stage, alpha, rng), self._critic(fake.detach(), stage, alpha, rng)
        loss = d_fake.mean() - d_real.mean() + c.drift * d_real.pow(2).mean()
        if step % c.gp_every == 0:
            # In float32: the double backward's small gradients are what the penalty measures.
            gp = gradient_penalty(lambda x: self.critic(x, stage, alpha), real, fake.float(), rng)
            loss = loss + c.gp_lambda * c.gp_every * gp
            self.last_gp = gp.detach()
        return {"loss_d": loss, "gp": self.last_gp, "score_real": d_real.mean().detach(),
                "score_fake": d_fake.mean().detach()}

    def generator_fakes(self, z, stage, alpha):
        with self._amp(z.device):
            return self.generator(z, stage, alpha)

    def generator_step(self, fake, z, real, index, stage, alpha, rng) -> dict:
        """Adversarial term (critic frozen), the anchor to the initial generator, the paired loss."""
        c = self.config
        zero = torch.zeros((), device=real.device)
        adversarial = anchor = distill = zero
        if c.gan_weight:
            adversarial = self.adversarial(fake, stage, alpha, rng)
        if self.teacher is not None and c.anchor_weight:
            side = min(c.anchor_resolution, fake.shape[-1])
            with torch.no_grad():
                target = self.teacher(z, stage, alpha)
            anchor = pyramid_l1(F.adaptive_avg_pool2d(fake.float(), side), F.adaptive_avg_pool2d(target, side))
        features = zero
        if self.paired.active:
            with self._amp(real.device):
                paired = self.generator(self.paired(index, real.device), stage, alpha)
            distill = pyramid_l1(paired.float(), real)
            if c.feature_weight:
                features = self.feature_matching(paired, real, stage, alpha)
        loss = c.gan_weight * adversarial + c.anchor_weight * anchor + c.distill_weight * distill + \
            c.feature_weight * features
        return {"loss_g": loss, "adversarial": adversarial.detach(), "anchor": anchor.detach(),
                "distill": distill.detach(), "features": features.detach()}

    def adversarial(self, fake: torch.Tensor, stage: int, alpha: float, rng: torch.Generator) -> torch.Tensor:
        """The generator's WGAN term, -critic(fake), with the critic frozen (no gradient for its weights)."""
        with self._frozen_critic(), self._amp(fake.device):
            return -self._critic(fake, stage, alpha, rng).mean()

    def feature_matching(self, paired: torch.Tensor, real: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """Mean over the critic's layers of the L1 between its features of G(z_i) and of face i (no augmentation:
        the pair must stay aligned); the critic is frozen, the real side needs no graph."""
        fake_features, real_features = [], []
        with self._frozen_critic(), self._amp(real.device):
            self.critic(paired, stage, alpha, features=fake_features)
            with torch.no_grad():
                self.critic(real, stage, alpha, features=real_features)
        distances = [(f.float() - r.float()).abs().mean() for f, r in zip(fake_features, real_features)]
        return torch.stack(distances).mean()


def train(data_dir: Path, out_dir: Path, config: ProGANConfig, resume: bool = False,
          max_steps: int | None = None, max_minutes: float | None = None) -> TrainingRun:
    config.validate()
    run = TrainingRun(out_dir, {"trainer": "progan", "data": str(data_dir), **dataclasses.asdict(config)})
    latents_file = Path(data_dir) / "latents.npy"
    if config.paired_terms and not latents_file.exists():
        raise FileNotFoundError(f"distill_weight or feature_weight > 0 needs {latents_file} (written by "
                                f"train/prepare_data.py --latents)")
    dataset = ImageFolderDataset(data_dir, 4 * 2 ** (len(config.channels) - 1),
                                 latents_file if config.paired_terms else None)
    images, latents = dataset.images, dataset.latents  # [N, 3, 64, 64] uint8, [N, latent_size] or None
    if config.init_latents:
        latents = load_latents(config.init_latents, latents)
    if any(b % run.world for b in config.batch_sizes):
        raise ValueError(f"batch sizes {config.batch_sizes} must be divisible by the {run.world} processes")
    schedule = Schedule(config, len(images))

    generator, critic, teacher = build_models(config, run.device)
    ema = EMA(generator, config.ema_beta, warmup=not config.init_from)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g or config.lr, betas=config.betas, eps=1e-8)
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=config.betas, eps=1e-8)
    paired = PairedLatents(latents, config.latent_lr, run.device)
    run.register(generator=generator, critic=critic, ema=ema, opt_g=opt_g, opt_d=opt_d, state=run.state,
                 **paired.checkpointed())
    if resume:
        run.resume()
    precision, note = resolve_precision(config.precision, run.device)
    if note:
        run.print(note)
    loss = ProGANLoss(config, generator, critic, teacher, paired, precision)
    sample_z = torch.randn(16, config.latent_size, generator=torch.Generator().manual_seed(config.seed))

    warm_start_critic = critic if config.gan_weight else None  # what snapshots and the export hold beside G
    bar = tqdm(total=schedule.total_images, initial=run.state.images_seen, unit="img", disable=not run.is_main,
               dynamic_ncols=True)
    run.begin_session(max_steps, max_minutes)
    while run.state.images_seen < schedule.total_images:
        stage, alpha, batch = schedule.at(run.state.images_seen)
        if stage != run.state.stage:
            opt_g.state.clear()  # a new stage starts with fresh Adam moments, as in ProGAN
            opt_d.state.clear()  # (the paired latents' optimiser keeps its: they are not tied to a stage)
        run.state.stage, run.state.alpha = stage, alpha
        index = run.rank_slice(epoch_batch_indices(run.state.images_seen, batch, len(images), config.seed))
        real = stage_images(from_uint8(images[index].to(run.device)), stage, alpha)
        rng = run.step_generator()
        n = real.shape[0]
        run.local_images += n

        z = torch.randn(n, config.latent_size, generator=rng).to(run.device)
        fake = loss.generator_fakes(z, stage, alpha) if (config.gan_weight or teacher is not None) else None
        critic_phase = Phase("critic", lambda _: loss.critic_step(real, fake, stage, alpha, rng, run.state.step),
                             "loss_d", (critic,), (opt_d,))
        generator_phase = Phase("generator", lambda _: loss.generator_step(fake, z, real, index, stage, alpha, rng),
                                "loss_g", (generator, *paired.modules()), (opt_g, paired))
        terms = run.take([critic_phase, generator_phase] if config.gan_weight else [generator_phase])
        ema.update(generator, run.state.step)

        run.state.step += 1
        run.state.images_seen += batch
        bar.update(batch)
        if run.state.step % config.log_every == 0:
            record = {"stage": stage, "resolution": 4 * 2**stage, "alpha": round(alpha, 4), "loss_d": 0.0, "gp": 0.0,
                      **{k: round(float(v.detach()), 6) for k, v in terms.items()}}
            img_s = run.log_step(record)
            bar.set_postfix(res=4 * 2**stage, alpha=f"{alpha:.2f}", d=f"{record['loss_d']:.3f}",
                            g=f"{record['loss_g']:.3f}", img_s=f"{img_s:.1f}")
        if run.state.step % config.sample_every == 0 and run.is_main:
            save_samples(ema.model, sample_z, stage, alpha, run.dir / "samples" / f"step-{run.state.step:07d}.png")
        if config.snapshot_every and stage == len(config.channels) - 1 and alpha >= 1.0 \
                and run.state.step % config.snapshot_every == 0:
            export_warm_start(run, run.snapshot(ema.model, "generator").parent, warm_start_critic, paired)
        if run.end_step(config.checkpoint_every):
            break
    bar.close()
    if run.state.images_seen >= schedule.total_images:
        run.finish(config.checkpoint_every, ema.model, "generator")
        export_warm_start(run, run.dir / "export", warm_start_critic, paired)
    return run


def build_models(config: ProGANConfig, device: torch.device) -> tuple:
    """The generator and the critic in training mode, fresh (seeded: the same initial weights on every rank) or
    warm-started, and the anchor's frozen copy of the initial generator (None without ``anchor_weight``)."""
    torch.manual_seed(config.seed)
    generator = ProGANGenerator(config.latent_size, config.channels)
    critic = ProGANDiscriminator(critic_widths(config))
    teacher = None
    if config.init_from:
        initial = load_initial(ProGANGenerator, config.init_from, "generator", config)
        generator.load_state_dict(initial.state_dict())
        if config.anchor_weight:  # the initial generator itself, frozen, is the anchor's target
            teacher = initial.requires_grad_(False).to(device).eval()
    if config.init_critic:
        critic.load_state_dict(load_initial(ProGANDiscriminator, config.init_critic, "critic", config).state_dict())
    return generator.to(device).train(), critic.to(device).train(), teacher


def export_warm_start(run: TrainingRun, folder: Path, critic: ProGANDiscriminator | None,
                      paired: PairedLatents) -> None:
    """Beside an exported generator: the critic and the paired z_i, so that a later run can continue from this
    folder with --init-from, --init-critic and --init-latents (a warm start that needs no checkpoint)."""
    if critic is not None:
        run.export(critic, "critic", folder)
    if run.is_main:
        paired.save(folder / LATENTS_FILE)


@torch.no_grad()
def save_samples(generator: ProGANGenerator, z: torch.Tensor, stage: int, alpha: float, path: Path) -> None:
    images = generator(z.to(next(generator.parameters()).device), stage, alpha)
    image_grid(F.interpolate(images, size=generator.resolution, mode="nearest"), columns=4).save(path)
