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
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data import ImageFolderDataset
from ..grid import image_grid
from ..models import PROGAN_CHANNELS, ProGANDiscriminator, ProGANGenerator
from .losses import gradient_penalty
from .run import EMA, TrainingRun, epoch_batch_indices


@dataclass
class ProGANConfig:
    channels: tuple[int, ...] = PROGAN_CHANNELS["small"]
    latent_size: int = 512
    stage_epochs: tuple[float, ...] = (1, 2, 2, 2, 4)  # per stage; one epoch = one pass over the data
    batch_sizes: tuple[int, ...] = (32, 32, 32, 16, 16)  # global, over all processes
    lr: float = 1e-3
    betas: tuple[float, float] = (0.0, 0.99)
    gp_lambda: float = 10.0
    drift: float = 1e-3  # keeps the critic's scores near 0
    ema_beta: float = 0.999
    distill_weight: float = 0.0  # paired pyramid L1 between G(z_i) and face i, when the data has latents
    latent_lr: float = 0.0  # > 0: the z_i are learned too (Adam, this learning rate), kept on the sphere
    gan_weight: float = 1.0  # weight of the adversarial loss; 0 skips the critic entirely
    log_every: int = 20
    sample_every: int = 500
    checkpoint_every: int = 500
    # In the last stage, once faded in: export the EMA generator to snapshots/step-N/generator every this many
    # steps (0: never), so that the model can be picked by its results on held-out faces, not by the last step.
    snapshot_every: int = 0
    seed: int = 0


PROGAN_CONFIGS = {
    "paper": ProGANConfig(channels=PROGAN_CHANNELS["paper"], stage_epochs=(10, 20, 20, 20, 50),
                          batch_sizes=(64, 64, 64, 32, 16)),
    "small": ProGANConfig(),
    # What checkpoints/default ships: half the 'small' widths, trained on a CPU by the paired loss with learned
    # latents and no critic (benchmarks/distillation_ablation.py compares it with the adversarial variants).
    "compact": ProGANConfig(channels=PROGAN_CHANNELS["compact"], stage_epochs=(1, 2, 2, 4, 20),
                            batch_sizes=(32, 32, 32, 32, 32), distill_weight=1.0, latent_lr=0.03, gan_weight=0.0,
                            snapshot_every=500),
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
                alpha = 1.0 if stage == 0 else min(1.0, 2.0 * into / max(length, 1))
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
        self.codes.copy_(F.normalize(self.codes, dim=1) * self.codes.shape[1] ** 0.5)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.codes[index]


def train(data_dir: Path, out_dir: Path, config: ProGANConfig, resume: bool = False,
          max_steps: int | None = None, max_minutes: float | None = None) -> TrainingRun:
    run = TrainingRun(out_dir, {"trainer": "progan", "data": str(data_dir), **dataclasses.asdict(config)})
    latents_file = Path(data_dir) / "latents.npy"
    if config.distill_weight and not latents_file.exists():
        raise FileNotFoundError(f"distill_weight > 0 needs {latents_file} (written by train/prepare_data.py --latents)")
    if config.latent_lr and not config.distill_weight:
        raise ValueError("latent_lr > 0 learns the latents of the paired loss: it needs distill_weight > 0")
    if not config.gan_weight and not config.distill_weight:
        raise ValueError("gan_weight = 0 and distill_weight = 0 leave no loss to train with")
    dataset = ImageFolderDataset(data_dir, 4 * 2 ** (len(config.channels) - 1),
                                 latents_file if config.distill_weight else None)
    images, latents = dataset.images, dataset.latents  # [N, 3, 64, 64] uint8, [N, latent_size] or None
    for b in config.batch_sizes:
        if b % run.world:
            raise ValueError(f"batch size {b} is not divisible by the {run.world} processes")
    schedule = Schedule(config, len(images))

    torch.manual_seed(config.seed)  # same initial weights on every rank
    generator = ProGANGenerator(config.latent_size, config.channels).to(run.device)
    critic = ProGANDiscriminator(config.channels).to(run.device)
    ema = EMA(generator, config.ema_beta)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas, eps=1e-8)
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=config.betas, eps=1e-8)
    codes = LatentCodes(latents).to(run.device) if config.latent_lr else None
    # beta1 = 0: a code outside the batch has a zero gradient and then does not move at all.
    opt_z = torch.optim.Adam(codes.parameters(), lr=config.latent_lr, betas=(0.0, 0.99)) if codes is not None else None
    run.register(generator, critic, ema, opt_g, opt_d, run.state, *((codes, opt_z) if codes is not None else ()))
    if resume:
        run.resume()
    sample_z = torch.randn(16, config.latent_size, generator=torch.Generator().manual_seed(config.seed))

    bar = tqdm(total=schedule.total_images, initial=run.state.images_seen, unit="img", disable=not run.is_main,
               dynamic_ncols=True)
    run.begin_session(max_steps, max_minutes)
    tick, tick_images = time.perf_counter(), run.state.images_seen
    while run.state.images_seen < schedule.total_images:
        stage, alpha, batch = schedule.at(run.state.images_seen)
        if stage != run.state.stage:
            opt_g.state.clear()  # a new stage starts with fresh Adam moments, as in ProGAN
            opt_d.state.clear()  # (the latents' optimiser keeps its: they are not tied to a stage)
        run.state.stage, run.state.alpha = stage, alpha
        index = run.rank_slice(epoch_batch_indices(run.state.images_seen, batch, len(images), config.seed))
        real = stage_images(images[index].to(run.device).float() / 127.5 - 1, stage, alpha)
        rng = run.step_generator()
        n = real.shape[0]
        run.local_images += n

        loss_d = gp = loss_g = distill = torch.zeros(())
        if config.gan_weight:
            # Critic: WGAN-GP with the drift term.
            z = torch.randn(n, config.latent_size, generator=rng).to(run.device)
            with torch.no_grad():
                fake = generator(z, stage, alpha)
            d_real, d_fake = critic(real, stage, alpha), critic(fake, stage, alpha)
            gp = gradient_penalty(lambda x: critic(x, stage, alpha), real, fake, rng)
            loss_d = d_fake.mean() - d_real.mean() + config.gp_lambda * gp + config.drift * d_real.pow(2).mean()
            run.check_finite(loss_d=loss_d)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            run.average_gradients(critic)
            opt_d.step()
            # Generator: fool the critic.
            z = torch.randn(n, config.latent_size, generator=rng).to(run.device)
            loss_g = -config.gan_weight * critic(generator(z, stage, alpha), stage, alpha).mean()

        # The paired loss, with the given or the learned latents of this batch's faces.
        if latents is not None:
            z = codes(index.to(run.device)) if codes is not None else latents[index].to(run.device)
            distill = pyramid_l1(generator(z, stage, alpha), real)
            loss_g = loss_g + config.distill_weight * distill
        run.check_finite(loss_g=loss_g)
        opt_g.zero_grad(set_to_none=True)
        if codes is not None:
            opt_z.zero_grad(set_to_none=True)
        loss_g.backward()
        run.average_gradients(generator, *((codes,) if codes is not None else ()))
        opt_g.step()
        if codes is not None:
            opt_z.step()
            codes.project()
        ema.update(generator, run.state.step)

        run.state.step += 1
        run.state.images_seen += batch
        bar.update(batch)
        if run.state.step % config.log_every == 0:
            now = time.perf_counter()
            img_s = (run.state.images_seen - tick_images) / (now - tick)
            tick, tick_images = now, run.state.images_seen
            record = {"stage": stage, "resolution": 4 * 2**stage, "alpha": round(alpha, 4),
                      "loss_d": loss_d.item(), "loss_g": loss_g.item(), "gp": gp.item(),
                      "distill": distill.item(), "img_s": round(img_s, 2), "mem_mb": round(run.memory_mb())}
            run.log(record)
            bar.set_postfix(res=4 * 2**stage, alpha=f"{alpha:.2f}", d=f"{loss_d.item():.3f}",
                            g=f"{loss_g.item():.3f}", img_s=f"{img_s:.1f}")
        if run.state.step % config.sample_every == 0 and run.is_main:
            save_samples(ema.model, sample_z, stage, alpha, run.dir / "samples" / f"step-{run.state.step:07d}.png")
        if config.snapshot_every and stage == len(config.channels) - 1 and alpha >= 1.0 \
                and run.state.step % config.snapshot_every == 0:
            run.export(ema.model, "generator", run.dir / "snapshots" / f"step-{run.state.step:07d}")
        if run.end_step(config.checkpoint_every):
            break
    bar.close()
    if run.state.images_seen >= schedule.total_images:
        run.finish(config.checkpoint_every, ema.model, "generator")
    return run


@torch.no_grad()
def save_samples(generator: ProGANGenerator, z: torch.Tensor, stage: int, alpha: float, path: Path) -> None:
    images = generator(z.to(next(generator.parameters()).device), stage, alpha)
    image_grid(F.interpolate(images, size=generator.resolution, mode="nearest"), columns=4).save(path)
