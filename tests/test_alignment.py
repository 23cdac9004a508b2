"""Aligning faces to the corpus's landmarks (srnam.faces.alignment): the similarity fit, the warp, and real
landmarks."""
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srnam.faces.alignment import CORPUS_LANDMARKS, Similarity, align_face, aligned_crop, face_landmarks, fit_similarity
from srnam.faces.framing import CORPUS_BOX
from srnam.images import pil_to_tensor, psnr, to_unit_range

FACE = Path(__file__).parent / "data" / "faces" / "dev_00000.jpg"  # 128×128, the corpus framing


def _similarity(angle_degrees: float, side: float, offset) -> Similarity:
    t = np.radians(-angle_degrees)  # counter-clockwise as the photo shows it (y points down)
    return Similarity(side * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]), np.array(offset, float))


def test_the_fit_recovers_a_similarity_and_never_mirrors():
    truth = _similarity(25.0, 80.0, (30.0, -7.0))
    fitted = fit_similarity(CORPUS_LANDMARKS, truth.to_photo(CORPUS_LANDMARKS))
    assert np.allclose(fitted.matrix, truth.matrix) and np.allclose(fitted.offset, truth.offset)
    assert fitted.angle == pytest.approx(25.0) and fitted.side == pytest.approx(80.0)
    mirrored = CORPUS_LANDMARKS * [-1, 1]  # a mirror image is not a similarity: the fit stays a rotation
    assert np.linalg.det(fit_similarity(CORPUS_LANDMARKS, mirrored).matrix) > 0
    assert np.allclose(truth.to_unit(truth.to_photo(CORPUS_LANDMARKS)), CORPUS_LANDMARKS)


def test_the_warp_is_a_crop_when_upright_and_a_rotation_when_turned():
    image = Image.effect_noise((40, 40), 80).convert("RGB")
    assert np.array_equal(np.asarray(aligned_crop(image, Similarity.of_box((10, 5, 30, 25)), 20)),
                          np.asarray(image.crop((10, 5, 30, 25))))
    turned = _similarity(90.0, 40.0, (0.0, 40.0))  # the square's top edge runs up the photo's left side
    assert np.allclose(turned.corners(), [[0, 40], [0, 0], [40, 0], [40, 40]])
    expected = image.rotate(-90)  # what the square shows: the photo turned back upright
    assert np.abs(np.asarray(aligned_crop(image, turned, 40), int) - np.asarray(expected, int)).max() <= 1
    outside = aligned_crop(image, Similarity.of_box((-20, -20, 20, 20)), 40)  # beyond the photo: edge pixels
    assert np.asarray(outside)[0, 0].tolist() == list(image.getpixel((0, 0)))


@pytest.mark.parametrize("angle", [-30, 15, 35])
def test_a_tilted_corpus_face_is_turned_back_onto_its_upright_framing(angle):
    face = Image.open(FACE).convert("RGB")
    framing = Similarity.of_box(CORPUS_BOX)
    upright = aligned_crop(face, framing, 64)
    tilted = face.rotate(angle, resample=Image.Resampling.BICUBIC, center=(64, 64), fillcolor=(128, 128, 128))
    aligned = align_face(tilted, CORPUS_BOX)  # from the upright box, as a detector would give it
    assert aligned.angle == pytest.approx(angle, abs=4) and aligned.side == pytest.approx(88, rel=0.08)
    def db(crop):
        return psnr(to_unit_range(pil_to_tensor(crop)), to_unit_range(pil_to_tensor(upright))).item()
    back, unaligned = db(aligned_crop(tilted, aligned, 64)), db(aligned_crop(tilted, framing, 64))
    assert back > 20 and back > unaligned + 4, (back, unaligned)
    points = framing.to_unit(face_landmarks(face, framing))  # the upright face's own landmarks: near the corpus's
    assert np.abs(points - CORPUS_LANDMARKS).max() < 0.05


def test_the_face_tab_finds_a_tilted_face_and_searches_it_upright(tiny_models):
    from srnam.faces.detect import crop_face
    from srnam.faces.lr_input import make_lr_input

    photo = Image.new("RGB", (300, 300), (90, 120, 150))
    photo.paste(Image.open(FACE).convert("RGB").resize((200, 200), Image.Resampling.LANCZOS), (50, 50))
    tilted = photo.rotate(35, resample=Image.Resampling.BICUBIC, fillcolor=(90, 120, 150))
    assert crop_face(tilted)[1] is False  # the Haar cascade (the face tab's detector before) misses it
    lr = make_lr_input(tilted, "area", tiny_models[1])
    assert lr.face_found and lr.framing.angle == pytest.approx(35, abs=5) and lr.reference.size == (64, 64)
    from demo.search import _input_notes

    assert re.search(r"turned upright \(it is tilted 3\d° in the photo\)", _input_notes(lr)[0])  # the tab says so
    upright = make_lr_input(photo, "area", tiny_models[1])
    assert upright.framing.angle == pytest.approx(0, abs=5)
    similar = psnr(to_unit_range(pil_to_tensor(lr.reference)), to_unit_range(pil_to_tensor(upright.reference)))
    assert similar.item() > 20  # the tilted face, turned upright, is the upright face's crop
