"""Test set-up. Environment variables first: huggingface_hub and gradio read them at import time.

Every Hub call of the test session goes to a small hub-compatible server on 127.0.0.1
(tests/hub_server.py), started here; nothing leaves the machine.
"""
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hub_server import HubServer, reserve_port  # noqa: E402

_HUB_PORT = reserve_port()
_HF_HOME = tempfile.mkdtemp(prefix="srnam-test-hf-")
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{_HUB_PORT}",
    HF_HUB_OFFLINE="0",  # the endpoint above is local; offline behaviour is tested in a subprocess
    HF_HOME=_HF_HOME,
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_TOKEN="test-token",
    GRADIO_ANALYTICS_ENABLED="False",
)

import pytest  # noqa: E402
import torch  # noqa: E402

from srnam.models import DEGRADATION_CHANNELS, PROGAN_CHANNELS, DegradationGenerator, ProGANGenerator  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def hub():
    server = HubServer.shared(_HUB_PORT)
    yield server


def make_tiny_models(seed: int = 0):
    """A seeded tiny generator and degradation model (random weights): fast on any CPU."""
    torch.manual_seed(seed)
    generator = ProGANGenerator(latent_size=32, channels=PROGAN_CHANNELS["tiny"]).eval()
    degradation = DegradationGenerator(noise_size=8, channels=DEGRADATION_CHANNELS["tiny"]).eval()
    return generator, degradation


@pytest.fixture
def tiny_models():
    return make_tiny_models()
