"""``eval_mode(*models)``: models in eval mode for a while (batch norm on its running statistics, no dropout),
then back in the mode each had. Every place that runs a model that may be training (samples, figures, exports,
the search, the camera model) goes through it, so none leaves a training model in eval mode by accident."""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    training = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, was_training in zip(models, training):
            m.train(was_training)
