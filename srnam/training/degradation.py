"""Unpaired training of the degradation model D(hr, noise) (after Bulat et al. 2018).

HR faces go in; the critic compares the 16×16 outputs with real-world LR faces (an unpaired set).
The generator loss is ``alpha * l_pixel + beta * l_gan`` with
``l_pixel = gamma * L1(up(D(hr)), hr) + delta * VGG(up(D(hr)), hr)``, where ``up`` is bicubic ×4:
the pixel term keeps the LR image faithful to the face, the GAN term makes it look like a real
low-quality photo. The critic is a WGAN critic with gradient penalty, trained ``n_critic`` times per
generator step.

The noise input is there because one HR face has many LR photos, but nothing in those two terms asks for
that: the pixel term is smallest for one fixed output, and the model learns to ignore its noise. The
*diversity* term (``diversity_weight``, a mode-seeking loss after Mao et al. 2019) gives each face two noise
vectors and penalises LR photos that differ by less than ``diversity_target`` 8-bit levels (a hinge, so that
it stops pushing once the photos differ enough and leaves the rest to the critic and the pixel term).

Every ``sample_every`` steps the run logs how realistic and how varied the outputs are
(:mod:`srnam.evaluation.camera_realism`): ``camera_fd``, the Fréchet distance of image statistics between D's photos
of held-out HR faces and the LR domain, beside the same figure for plain area downsampling
(``camera_fd_area``) and for the LR domain against itself (``camera_fd_floor``); and ``noise_spread``, the
mean difference between one face's photos under five noise vectors, in 8-bit levels.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..evaluation.camera_realism import camera_fd, noise_spread
from .data import load_image_folder
from ..grid import image_grid
from ..images import from_uint8
from ..models import DEGRADATION_CHANNELS, DegradationDiscriminator, DegradationGenerator
from ..models.eval_mode import eval_mode
from .losses import gradient_penalty, load_vgg_loss
from .run import EMA, Phase, RunConfig, TrainingRun, epoch_batch_indices, find_model_folder


@dataclass
class DegradationConfig(RunConfig):
    channels: tuple[int, ...] = DEGRADATION_CHANNELS["default"]
    critic_channels: tuple[int, ...] = DEGRADATION_CHANNELS["default"]
    noise_size: int = 100
    batch_size: int = 64
    num_steps: int = 2000  # generator steps
    n_critic: int = 5
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)  # WGAN-GP's Adam settings
    alpha: float = 1.0  # pixel loss weight
    beta: float = 0.05  # GAN loss weight
    gamma: float = 1.0  # L1 inside the pixel loss
    delta: float = 0.1  # VGG inside the pixel loss (0 when no ImageNet weights are available)
    pixel_size: int = 64  # where the L1 compares: 64 (bicubic-up LR vs HR) or 8, 4 (both area-pooled: low-pass)
    gp_lambda: float = 10.0
    diversity_weight: float = 0.0  # mode seeking: penalise two noise vectors giving near-identical LR photos
    diversity_target: float = 8.0  # 8-bit levels between one face's two photos at which the penalty stops
    camera_head: bool = False  # the noise also sets a lens blur and sensor noise (srnam.models.camera_head)
    init_from: str = ""  # warm start: a degradation model (pipeline folder, run, export); its critic is fresh
    # An exponential moving average of the weights (0: none). With it, the export, the samples, the snapshots and the
    # logged realism figures are the average's. A GAN's raw weights oscillate (the camera head's camera FD swung
    # between 0.55 and 0.97 from one log to the next); measured, the average swung about as widely (0.52-0.95,
    # benchmarks/README.md), so pick the snapshot by its logged figures rather than trust the last one.
    ema_beta: float = 0.0
    snapshot_every: int = 0  # export the (averaged) model to snapshots/step-N/ every this many steps (0: never)
    # Critic steps before the first generator step. A warm start's critic is fresh, and its first, random gradients
    # undo what the loaded model knew: from a camera at camera FD 0.55, 100 steps without this ended at 5.1.
    critic_warmup: int = 0
    eval_faces: int = 512  # held-out HR faces and LR photos for the logged realism figures (0: none)
    sample_every: int = 200  # also when the realism figures are logged: a multiple of log_every
    checkpoint_every: int = 200

    def validate(self) -> None:
        if self.pixel_size != 64 and 16 % self.pixel_size:
            raise ValueError(f"pixel_size must be 64 (the HR size) or divide the LR size 16, got {self.pixel_size}")
        if self.eval_faces and self.sample_every % self.log_every:
            raise ValueError(f"the realism figures are logged with the losses: sample_every ({self.sample_every}) "
                             f"must be a multiple of log_every ({self.log_every})")


DEGRADATION_CONFIGS = {
    "default": DegradationConfig(),
    "small": DegradationConfig(channels=(32, 32, 64, 64, 64, 32), critic_channels=(32, 32, 64, 64, 64, 64),
                               batch_size=32),
    # What checkpoints/default ships: a narrow generator (fast searches) and critic (4.5× faster steps than
    # 'small' on the CPU; five critic steps with a gradient penalty dominate the cost of a step).
    "compact": DegradationConfig(channels=DEGRADATION_CHANNELS["compact"], critic_channels=(16, 16, 32, 32, 32, 32),
                                 batch_size=32, num_steps=1000),
    "tiny": DegradationConfig(channels=DEGRADATION_CHANNELS["tiny"], critic_channels=DEGRADATION_CHANNELS["tiny"],
                              noise_size=8, batch_size=4, num_steps=6, n_critic=2, log_every=1, sample_every=3,
                              checkpoint_every=3, eval_faces=4),
}


def mode_seeking_loss(first: torch.Tensor, second: torch.Tensor, target: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The diversity term for two LR photos of each face ([N, 3, h, w] each, in [-1, 1], from two noise
    vectors): the mean shortfall of their difference below ``target`` 8-bit levels, divided by ``target`` (so it
    lies in [0, 1]); and the mean difference itself, in levels, for the log."""
    levels = 127.5 * (first - second).abs().mean(dim=(1, 2, 3))  # [N]; [-1, 1] spans 255 levels
    return F.relu(target - levels).mean() / target, levels.mean().detach()


def upscale(lr: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False)


def pixel_l1(fake: torch.Tensor, up: torch.Tensor, hr: torch.Tensor, size: int) -> torch.Tensor:
    """The L1 that keeps D's photo faithful to the face. At ``size`` = the HR size it is the paper's
    ``L1(up(D(hr)), hr)``, which is smallest for the sharpest photo and so fights the blur of real LR photos
    (the shipped model's photos have the high-frequency power of area downsampling, well above the LR
    domain's). At a coarser ``size`` both sides are area-pooled first: the term keeps the face's layout and
    colour and leaves blur, noise and compression, which live above that frequency, to the critic."""
    if size == hr.shape[-1]:
        return (up - hr).abs().mean()
    return (F.adaptive_avg_pool2d(fake, size) - F.adaptive_avg_pool2d(hr, size)).abs().mean()


class DegradationLoss:
    """The loss terms of one training step, one method per phase (critic, generator; module docstring)."""

    def __init__(self, config: DegradationConfig, generator: DegradationGenerator,
                 critic: DegradationDiscriminator, vgg=None):
        self.config, self.generator, self.critic, self.vgg = config, generator, critic, vgg

    def critic_step(self, hr: torch.Tensor, real_lr: torch.Tensor, rng: torch.Generator) -> dict:
        """WGAN-GP: the critic tells real LR photos from D's photos of the HR faces ``hr``."""
        with torch.no_grad():
            noise = torch.randn(hr.shape[0], self.config.noise_size, generator=rng).to(hr.device)
            fake = self.generator(hr, noise)
        gp = gradient_penalty(self.critic, real_lr, fake, rng)
        loss = self.critic(fake).mean() - self.critic(real_lr).mean() + self.config.gp_lambda * gp
        return {"loss_c": loss, "gp": gp.detach()}

    def generator_step(self, hr: torch.Tensor, rng: torch.Generator) -> dict:
        """The pixel, adversarial and diversity terms; with the diversity term every face goes in twice, with
        two noise vectors."""
        c = self.config
        noise = torch.randn(hr.shape[0], c.noise_size, generator=rng).to(hr.device)
        if c.diversity_weight:
            hr = torch.cat([hr, hr])
            noise = torch.cat([noise, torch.randn(noise.shape[0], c.noise_size, generator=rng).to(hr.device)])
        fake = self.generator(hr, noise)
        up = upscale(fake, hr.shape[-1])
        l1 = pixel_l1(fake, up, hr, c.pixel_size)
        perceptual = self.vgg(up, hr) if self.vgg else torch.zeros((), device=hr.device)
        l_gan = -self.critic(fake).mean()
        diversity = l_div = torch.zeros((), device=hr.device)
        if c.diversity_weight:
            l_div, diversity = mode_seeking_loss(*fake.chunk(2), c.diversity_target)
        loss = c.alpha * (c.gamma * l1 + c.delta * perceptual) + c.beta * l_gan + c.diversity_weight * l_div
        return {"loss_g": loss, "l1": l1.detach(), "vgg": perceptual.detach(), "l_gan": l_gan.detach(),
                "diversity": diversity, "l_div": l_div.detach()}


def train(hr_dir: Path, lr_dir: Path, out_dir: Path, config: DegradationConfig, resume: bool = False,
          max_steps: int | None = None, max_minutes: float | None = None,
          vgg_weights: Path | None = None) -> TrainingRun:
    config.validate()
    vgg = load_vgg_loss(vgg_weights) if config.delta > 0 else None
    if vgg is None and config.delta > 0:
        config = dataclasses.replace(config, delta=0.0)
    run = TrainingRun(out_dir, {"trainer": "degradation", "hr_data": str(hr_dir), "lr_data": str(lr_dir),
                                **dataclasses.asdict(config)})
    run.print(f"perceptual term: {'VGG-19 relu3_4, delta=' + str(config.delta) if vgg else 'off (delta=0)'}")
    if config.batch_size % run.world:
        raise ValueError(f"batch size {config.batch_size} is not divisible by the {run.world} processes")
    hr_images = load_image_folder(hr_dir, 64)  # [N, 3, 64, 64] uint8
    lr_images = load_image_folder(lr_dir, 16)  # [M, 3, 16, 16] uint8

    torch.manual_seed(config.seed)
    generator = DegradationGenerator(config.noise_size, config.channels, camera_head=config.camera_head)
    if config.init_from:
        warm_start(generator, config.init_from)
    generator = generator.to(run.device)
    critic = DegradationDiscriminator(config.critic_channels).to(run.device)
    vgg = vgg.to(run.device) if vgg else None
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
    opt_c = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=config.betas)
    ema = EMA(generator, config.ema_beta, warmup=not config.init_from) if config.ema_beta else None
    run.register(generator=generator, critic=critic, opt_g=opt_g, opt_c=opt_c, state=run.state,
                 **({"ema": ema} if ema else {}))
    shown = ema.model if ema else generator  # what the samples, the figures, the snapshots and the export are of
    if resume:
        run.resume()
    fixed_hr = from_uint8(hr_images[:6])  # samples: 6 faces × 4 noise vectors
    fixed_noise = torch.randn(4, config.noise_size, generator=torch.Generator().manual_seed(config.seed))
    realism = CameraRealism(hr_images, lr_images, config) if config.eval_faces and run.is_main else None
    loss = DegradationLoss(config, generator, critic, vgg)

    bar = tqdm(total=config.num_steps, initial=run.state.step, unit="step", disable=not run.is_main,
               dynamic_ncols=True)
    run.begin_session(max_steps, max_minutes)
    generator.train()

    def critic_phase(batches: list, rng: torch.Generator) -> Phase:  # one step per batch of HR faces and LR photos
        return Phase("critic", lambda i: loss.critic_step(*batches[i], rng), "loss_c", (critic,), (opt_c,),
                     repeat=len(batches))

    if run.state.step == 0 and config.critic_warmup:  # (a run killed before its first checkpoint redoes it all)
        rng = run.step_generator(salt=1)
        for _ in tqdm(range(config.critic_warmup), desc="critic warm-up", disable=not run.is_main, leave=False):
            warmup_terms = run.take([critic_phase([critic_batch(run, hr_images, lr_images, config)], rng)])
        run.print(f"critic warm-up: {config.critic_warmup} steps, critic loss {warmup_terms['loss_c'].item():.3f}")
    while run.state.step < config.num_steps:
        rng = run.step_generator()
        critic_batches = [critic_batch(run, hr_images, lr_images, config) for _ in range(config.n_critic)]
        hr = next_batch(run, hr_images, config, salt=0)
        run.state.images_seen += config.batch_size
        run.local_images += hr.shape[0]
        terms = run.take([critic_phase(critic_batches, rng),
                          Phase("generator", lambda _: loss.generator_step(hr, rng), "loss_g", (generator,), (opt_g,))])
        if ema:
            ema.update(generator, run.state.step)

        run.state.step += 1
        bar.update(1)
        if run.state.step % config.log_every == 0:
            record = {k: v.item() for k, v in terms.items()}
            record["diversity"] = round(record["diversity"], 4)
            img_s = run.log_step({
                **record, **(realism(shown) if realism and run.state.step % config.sample_every == 0 else {})})
            bar.set_postfix(c=f"{record['loss_c']:.3f}", l1=f"{record['l1']:.3f}", img_s=f"{img_s:.1f}")
        if run.state.step % config.sample_every == 0 and run.is_main:
            save_samples(shown, fixed_hr, fixed_noise, run.dir / "samples" / f"step-{run.state.step:07d}.png")
        if config.snapshot_every and run.state.step % config.snapshot_every == 0:
            run.snapshot(shown, "degradation")
        if run.end_step(config.checkpoint_every, sync=(generator,)):
            break
    bar.close()
    if run.state.step >= config.num_steps:
        run.finish(config.checkpoint_every, shown, "degradation", sync=(generator,))
    return run


def next_batch(run: TrainingRun, images: torch.Tensor, config: DegradationConfig, salt: int) -> torch.Tensor:
    """This process's share of the batch of ``images`` (uint8) that starts at the run's images seen, in [-1, 1];
    ``salt`` gives the HR faces (0) and the LR photos (1) streams of their own."""
    index = epoch_batch_indices(run.state.images_seen, config.batch_size, len(images), config.seed + salt)
    return from_uint8(images[run.rank_slice(index)].to(run.device))


def critic_batch(run: TrainingRun, hr_images: torch.Tensor, lr_images: torch.Tensor,
                 config: DegradationConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The next HR faces and LR photos of a critic step; the images it draws count as seen."""
    hr, real_lr = next_batch(run, hr_images, config, 0), next_batch(run, lr_images, config, 1)
    run.state.images_seen += config.batch_size
    return hr, real_lr


def warm_start(generator: DegradationGenerator, path: str) -> None:
    """Load the degradation model at ``path`` into ``generator``. A model without the camera head may start one
    with it: the head then keeps its initialisation (near the identity), and everything else is loaded."""
    initial = DegradationGenerator.from_folder(find_model_folder(path, "degradation"))
    for name in ("noise_size", "channels", "hr_size", "residual"):
        if getattr(initial, name) != getattr(generator, name):
            raise ValueError(f"{path}: its degradation model has {name} {getattr(initial, name)}, the config "
                             f"{getattr(generator, name)}")
    if initial.camera is not None and generator.camera is None:
        raise ValueError(f"{path}: its degradation model has a camera head: pass --camera-head true")
    missing, unexpected = generator.load_state_dict(initial.state_dict(), strict=False)
    assert not unexpected and all(key.startswith("camera.") for key in missing), (missing, unexpected)


class CameraRealism:
    """The realism and noise figures of a degradation model on a fixed held-out set (see the module docstring):
    the last ``eval_faces`` HR faces (not the first ones, which the samples show), as many LR photos, and as
    many further LR photos for the floor (or the two halves of a small LR set)."""

    def __init__(self, hr_images: torch.Tensor, lr_images: torch.Tensor, config: DegradationConfig):
        n = min(config.eval_faces, len(hr_images), len(lr_images) // 2)
        if n < 2:
            raise ValueError(f"eval_faces needs at least 2 HR faces and 4 LR photos, got {len(hr_images)} and "
                             f"{len(lr_images)} (pass --eval-faces 0 to switch the figures off)")
        unit = lambda u8: u8.float() / 255  # noqa: E731  uint8 → [0, 1]
        self.hr = from_uint8(hr_images[-n:])  # [n, 3, 64, 64] in [-1, 1]
        self.lr, floor = unit(lr_images[:n]), unit(lr_images[n:2 * n])
        self.noise = torch.randn(n, config.noise_size, generator=torch.Generator().manual_seed(config.seed + 1))
        self.spread_noise = torch.randn(5, config.noise_size, generator=torch.Generator().manual_seed(config.seed + 2))
        area = F.avg_pool2d(self.hr, 4) * 0.5 + 0.5
        self.baselines = {"camera_fd_area": round(camera_fd(area, self.lr), 4),
                          "camera_fd_floor": round(camera_fd(floor, self.lr), 4)}

    @torch.no_grad()
    def __call__(self, generator: DegradationGenerator) -> dict:
        device = next(generator.parameters()).device
        faces = self.hr[:64].to(device)
        with eval_mode(generator):
            lr = generator(self.hr.to(device), self.noise.to(device)).cpu().clamp(-1, 1) * 0.5 + 0.5
            per_face = torch.stack([generator(faces, n.expand(len(faces), -1).to(device))  # [F, 5, 3, 16, 16]
                                    for n in self.spread_noise], dim=1).cpu().clamp(-1, 1) * 0.5 + 0.5
        return {"camera_fd": round(camera_fd(lr, self.lr), 4), **self.baselines,
                "noise_spread": round(noise_spread(per_face), 3)}


@torch.no_grad()
def save_samples(generator: DegradationGenerator, hr: torch.Tensor, noise: torch.Tensor, path: Path) -> None:
    """One row per face: the HR face, then its LR image under each noise vector (enlarged, unsmoothed)."""
    device = next(generator.parameters()).device
    hr = hr.to(device)
    rows = []
    with eval_mode(generator):
        for face in hr:
            lr = generator(face.expand(len(noise), -1, -1, -1), noise.to(device))  # [4, 3, 16, 16]
            rows.append(torch.cat([face[None], F.interpolate(lr, size=hr.shape[-1], mode="nearest")]))
    image_grid(torch.cat(rows), columns=len(noise) + 1).save(path)
