"""The one registry of LR sources (srnam.faces.lr_sources): every front end makes its 16×16 input by name, with
one spelling per source; the old spellings still work and come back in the new one."""
import random

import pytest
import torch
from PIL import Image

from conftest import make_tiny_models
from srnam.faces.lr_input import make_lr_input
from srnam.faces.lr_sources import LR_SOURCES, lr_source_name, make_lr_images
from srnam.images import pil_to_tensor
from srnam.training.data import RealisticDegradation


def _faces(n: int = 3) -> list[Image.Image]:
    g = torch.Generator().manual_seed(1)
    return [Image.fromarray((torch.rand(64, 64, 3, generator=g) * 255).to(torch.uint8).numpy()) for _ in range(n)]


@pytest.mark.parametrize("source", LR_SOURCES)
def test_each_source_gives_a_16_px_image_per_face_that_depends_on_its_own_seed_only(source):
    degradation = make_tiny_models()[1]
    faces = _faces()
    lr = make_lr_images(faces, source, degradation, [7, 8, 9])
    assert [image.size for image in lr] == [(16, 16)] * 3 and all(image.mode == "RGB" for image in lr)
    alone = make_lr_images(faces[1:2], source, degradation, [8])
    assert torch.equal(pil_to_tensor(alone[0]), pil_to_tensor(lr[1]))  # the others in the list change nothing
    reseeded = make_lr_images(faces[1:2], source, degradation, [80])
    assert torch.equal(pil_to_tensor(reseeded[0]), pil_to_tensor(lr[1])) == (source in ("area", "bicubic"))


def test_the_sources_are_the_camera_model_the_resamplings_and_the_training_synthesiser():
    degradation = make_tiny_models()[1]
    face = _faces(1)[0]
    photo = degradation.photograph(pil_to_tensor(face), [3])
    assert torch.allclose(pil_to_tensor(make_lr_images([face], "degrade", degradation, [3])[0]), photo, atol=1 / 127)
    assert make_lr_images([face], "area", degradation, [0])[0].tobytes() == \
        face.resize((16, 16), Image.Resampling.BOX).tobytes()
    synthetic = RealisticDegradation(lr_size=16)(face, random.Random(5))
    assert make_lr_images([face], "synthetic", degradation, [5])[0].tobytes() == synthetic.tobytes()


def test_old_spellings_are_read_as_the_new_ones_and_wrong_names_list_the_choices():
    assert lr_source_name("downsample") == "area" and lr_source_name("degradation") == "degrade"
    with pytest.raises(ValueError, match="LR source must be one of area, bicubic, degrade, synthetic, got 'camera'"):
        lr_source_name("camera")
    with pytest.raises(ValueError, match="one seed per face: 2 faces, 1 seeds"):
        make_lr_images(_faces(2), "area", make_tiny_models()[1], [0])
    photo = Image.new("RGB", (200, 200), (120, 100, 90))
    assert make_lr_input(photo, "downsample", make_tiny_models()[1]).mode == "area"

