"""Training data: image folders as in-memory tensors, and the synthetic "real-world" LR degradation.

SR-NAM trains on two unpaired domains: HR faces (for the generator) and real low-resolution photos (for
the degradation model D). No real LR face set exists offline, so the LR domain is made from a disjoint
set of HR faces by ``RealisticDegradation``, a random chain of the things that happen to a small face in
a real photo. D never sees which HR face an LR image came from.
"""
from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from ..errors import InvalidImageError
from ..images import from_uint8, jpeg_round_trip, open_image

# The resampling kernels a camera app, a browser or a thumbnailer might use.
KERNELS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,  # no antialiasing: aliased, jagged LR images
}


@dataclass(frozen=True)
class RealisticDegradation:
    """A random degradation chain HR face → ``lr_size``×``lr_size`` RGB "real-world" LR photo.

    Each call draws a new chain from ``rng`` (a ``random.Random``; the same seed gives the same image,
    bit for bit). The steps, in the order a photo goes through them, with the default ranges
    (U = uniform, logU = log-uniform):

    1. illumination, with probability ``colour_prob``: brightness gain U(0.75, 1.25) and white-balance
       gains U(0.88, 1.12) per channel (a warm or cold cast);
    2. optical blur, with probability ``blur_prob``: Gaussian, sigma U(0.1, 0.7) in *LR* pixels
       (0.4–2.8 HR pixels for 64 → 16), i.e. defocus and motion beyond the downsampling's own blur;
    3. downsampling with a kernel drawn from ``KERNELS`` (box, bilinear, bicubic, lanczos, nearest); with
       probability ``two_stage_prob`` in two stages (HR → a random intermediate size → LR), each stage
       with its own kernel, as when a resized photo is resized again;
    4. sensor noise at LR, each with its probability: Gaussian, sigma U(1, 8)/255, gray (same on all
       channels) in 30% of the cases; Poisson-like shot noise, value = Poisson(x · peak) / peak with
       peak logU(300, 3000) (std 0.013–0.041 at mid-gray: dark regions get relatively more noise);
    5. tone and colour processing, with probability ``colour_prob`` (drawn apart from step 1): contrast U(0.75, 1.25) around the
       mean, gamma U(0.75, 1.35), saturation U(0.6, 1.3);
    6. JPEG at LR, with probability ``jpeg_prob``: quality U(30, 95) (integer), chroma 4:2:0 or 4:4:4.

    Values are clipped to [0, 1] after each step, as 8-bit images are.
    """

    lr_size: int = 16
    blur_prob: float = 0.7
    blur_sigma: tuple[float, float] = (0.1, 0.7)  # in LR pixels
    two_stage_prob: float = 0.3
    gaussian_noise_prob: float = 0.5
    gaussian_sigma: tuple[float, float] = (1 / 255, 8 / 255)
    poisson_noise_prob: float = 0.3
    poisson_peak: tuple[float, float] = (300.0, 3000.0)
    colour_prob: float = 0.8
    brightness: tuple[float, float] = (0.75, 1.25)
    white_balance: tuple[float, float] = (0.88, 1.12)
    contrast: tuple[float, float] = (0.75, 1.25)
    gamma: tuple[float, float] = (0.75, 1.35)
    saturation: tuple[float, float] = (0.6, 1.3)
    jpeg_prob: float = 0.8
    jpeg_quality: tuple[int, int] = (30, 95)

    def __call__(self, hr: Image.Image, rng: random.Random | None = None) -> Image.Image:
        rng = rng if rng is not None else random.Random()
        return self.apply(hr, self.sample(rng, hr.width))

    def sample(self, rng: random.Random, hr_size: int = 64) -> dict:
        """Draw one chain's parameters (a JSON-able dict; ``None`` means the step is skipped)."""
        def uniform(bounds):
            return rng.uniform(*bounds)

        def maybe(prob, draw):
            # Always consume the draws, so that one step's probability does not shift the others' values.
            value = draw()
            return value if rng.random() < prob else None

        colour, tone = rng.random() < self.colour_prob, rng.random() < self.colour_prob
        stages = [rng.choice(list(KERNELS))]
        if rng.random() < self.two_stage_prob and hr_size > self.lr_size + 1:
            stages.insert(0, rng.choice(list(KERNELS)))
        return {
            "brightness": uniform(self.brightness) if colour else None,
            "white_balance": [uniform(self.white_balance) for _ in range(3)] if colour else None,
            "blur_sigma_lr": maybe(self.blur_prob, lambda: uniform(self.blur_sigma)),
            "kernels": stages,
            "intermediate_size": rng.randint(self.lr_size + 1, hr_size - 1) if len(stages) == 2 else None,
            "gaussian_sigma": maybe(self.gaussian_noise_prob, lambda: uniform(self.gaussian_sigma)),
            "gray_noise": rng.random() < 0.3,
            "poisson_peak": maybe(self.poisson_noise_prob,
                                  lambda: math.exp(uniform([math.log(p) for p in self.poisson_peak]))),
            "contrast": uniform(self.contrast) if tone else None,
            "gamma": uniform(self.gamma) if tone else None,
            "saturation": uniform(self.saturation) if tone else None,
            "jpeg_quality": maybe(self.jpeg_prob, lambda: rng.randint(*self.jpeg_quality)),
            "jpeg_subsampling": rng.choice([0, 2]),  # PIL: 0 = 4:4:4, 2 = 4:2:0
            "noise_seed": rng.getrandbits(63),
        }

    def apply(self, hr: Image.Image, params: dict) -> Image.Image:
        """Run the chain described by ``params`` (from :meth:`sample`) on ``hr``."""
        image = hr.convert("RGB")
        if params["brightness"] is not None:
            gains = params["brightness"] * np.asarray(params["white_balance"], dtype=np.float32)
            image = _from_float(_to_float(image) * gains)
        if params["blur_sigma_lr"] is not None:
            image = image.filter(ImageFilter.GaussianBlur(params["blur_sigma_lr"] * image.width / self.lr_size))
        sizes = [params["intermediate_size"], self.lr_size] if len(params["kernels"]) == 2 else [self.lr_size]
        for kernel, size in zip(params["kernels"], sizes):
            image = image.resize((size, size), KERNELS[kernel])

        pixels = _to_float(image)  # [h, w, 3] in [0, 1]
        noise_rng = np.random.default_rng(params["noise_seed"])
        if params["poisson_peak"] is not None:
            peak = params["poisson_peak"]
            pixels = noise_rng.poisson(pixels * peak).astype(np.float32) / peak
        if params["gaussian_sigma"] is not None:
            shape = pixels.shape[:2] + ((1,) if params["gray_noise"] else (3,))
            pixels = pixels + noise_rng.normal(0.0, params["gaussian_sigma"], shape).astype(np.float32)
        pixels = np.clip(pixels, 0.0, 1.0)
        if params["contrast"] is not None:
            pixels = np.clip((pixels - pixels.mean()) * params["contrast"] + pixels.mean(), 0.0, 1.0)
            pixels = pixels ** params["gamma"]
            gray = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # [h, w]
            pixels = np.clip(gray[..., None] + (pixels - gray[..., None]) * params["saturation"], 0.0, 1.0)
        image = _from_float(pixels)

        if params["jpeg_quality"] is not None:
            image = jpeg_round_trip(image, params["jpeg_quality"], params["jpeg_subsampling"])
        return image


def _to_float(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255.0  # [H, W, 3]


def _from_float(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------------- folders

def image_files(folder: str | Path) -> list[Path]:
    """The files of ``folder`` whose extension PIL can read, sorted by name (not recursive).

    Other files (``latents.npy``, reports) are ignored without a warning: they are expected next to
    the images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    extensions = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions),
                  key=lambda p: p.name)


def _load_folder(folder: str | Path, size: int) -> tuple[torch.Tensor, list[Path], list[int]]:
    """All readable images of ``folder`` as uint8 [N, 3, size, size], their paths, and their indices
    among ``image_files(folder)`` (which differ from 0..N-1 when a file was skipped)."""
    images, files, indices = [], [], []
    for index, path in enumerate(image_files(folder)):
        try:
            image = open_image(path)
        except InvalidImageError as err:
            warnings.warn(f"skipping {err}", stacklevel=3)
            continue
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BOX)  # area averaging
        images.append(np.asarray(image, dtype=np.uint8))  # [size, size, 3]
        files.append(path)
        indices.append(index)
    stacked = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)  # [N, size, size, 3]
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous(), files, indices


def load_image_folder(folder: str | Path, size: int) -> torch.Tensor:
    """Every image of ``folder`` (sorted by name) as uint8 [N, 3, size, size].

    Images go through :func:`srnam.images.open_image` (EXIF orientation, any mode → RGB, centre square)
    and are resized by area averaging when their side differs from ``size``. Unreadable files are
    skipped with a warning.
    """
    return _load_folder(folder, size)[0]


class ImageFolderDataset(torch.utils.data.Dataset):
    """A folder of images held in memory as uint8; items are float [3, size, size] in [-1, 1].

    With ``latents`` (a ``.npy`` file [N, latent_size] whose row i belongs to the i-th sorted image
    file of the folder, as ``train/prepare_data.py --latents`` writes it), items are ``(image, z)``.
    Rows of files that could not be read are dropped with them, so the pairs stay aligned.
    """

    def __init__(self, folder: str | Path, size: int, latents: str | Path | None = None):
        self.images, self.files, indices = _load_folder(folder, size)  # images: [N, 3, size, size] uint8
        if not self.files:
            raise ValueError(f"{folder}: no readable images")
        self.latents = None
        if latents is not None:
            table = np.load(latents)  # [N_files, latent_size]
            expected = len(image_files(folder))
            if table.ndim != 2 or table.shape[0] != expected:
                raise ValueError(
                    f"{latents}: expected a [{expected}, latent_size] array, one row per image file of "
                    f"{folder} in sorted order, got shape {list(table.shape)}")
            self.latents = torch.from_numpy(np.ascontiguousarray(table[indices], dtype=np.float32))  # [N, latent]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        image = from_uint8(self.images[index])  # [3, size, size]
        return image if self.latents is None else (image, self.latents[index])
