"""How much a camera model's LR photos look like real LR photos, and how much its noise input matters.

The degradation model D(hr, n) must turn HR faces into LR photos *of the kind in the LR domain*: as blurred,
as noisy, as compressed and coloured. Face descriptors do not see that at 16×16, so the figure here is a
Fréchet distance on simple statistics of each 16×16 image that those properties move:

* colour: mean and standard deviation of luma and the two chroma channels (BT.601 YCbCr), 6 values;
* detail and noise: the log power of the luma spectrum in ``BANDS`` radial frequency bands, 6 values (blur
  lowers the high bands, sensor noise and JPEG ringing raise them).

Each statistic is standardised by the reference set's mean and spread, so that every one counts alike. The
figure of one half of the LR domain against the other is the floor; plain area downsampling is the
baseline a learned camera model must beat.
"""
from __future__ import annotations

import numpy as np
import torch

from .metrics import frechet_distance, mean_pairwise_l1

BANDS = 6
YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def lr_statistics(images: torch.Tensor) -> np.ndarray:
    """Per image of ``images`` [N, 3, H, W] in [0, 1]: colour moments and banded log spectrum, [N, 6 + BANDS]."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"lr_statistics needs [N, 3, H, W] images, got {list(images.shape)}")
    x = images.double().cpu()
    ycc = torch.einsum("ck,nkhw->nchw", torch.tensor(YCBCR, dtype=torch.float64), x)  # [N, 3, H, W]
    colour = torch.cat([ycc.mean(dim=(2, 3)), ycc.std(dim=(2, 3))], dim=1)  # [N, 6]
    luma = ycc[:, 0] - ycc[:, 0].mean(dim=(1, 2), keepdim=True)
    power = torch.fft.fft2(luma).abs().pow(2)  # [N, H, W]
    h, w = luma.shape[-2:]
    fy, fx = torch.meshgrid(torch.fft.fftfreq(h, dtype=torch.float64), torch.fft.fftfreq(w, dtype=torch.float64),
                            indexing="ij")
    radius = (fy.pow(2) + fx.pow(2)).sqrt() / (0.5 * 2 ** 0.5)  # 0 (DC) … 1 (the corner frequency)
    band = (radius * BANDS).long().clamp(max=BANDS - 1)
    bands = torch.stack([power[:, (band == b) & (radius > 0)].mean(dim=1) for b in range(BANDS)], dim=1)
    return torch.cat([colour, torch.log10(bands + 1e-10)], dim=1).numpy()


def camera_fd(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Fréchet distance between the :func:`lr_statistics` of ``images`` and ``reference`` ([N, 3, H, W] in
    [0, 1]), standardised by the reference's statistics. Compare figures only at equal set sizes."""
    features, ref = lr_statistics(images), lr_statistics(reference)
    mean, spread = ref.mean(0), ref.std(0) + 1e-8
    return frechet_distance((features - mean) / spread, (ref - mean) / spread)


def noise_spread(lr_per_face: torch.Tensor) -> float:
    """How much the noise changes the LR photo: ``lr_per_face`` [F, V, 3, H, W] in [0, 1] holds each face's photos
    under V noise vectors; the mean absolute difference over all pairs of one face's photos, in 8-bit levels."""
    if lr_per_face.shape[1] < 2:
        raise ValueError("noise_spread needs at least 2 noise vectors per face")
    return 255.0 * float(np.mean([mean_pairwise_l1(photos) for photos in lr_per_face]))  # as many pairs per face
