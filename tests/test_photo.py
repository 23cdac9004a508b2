"""Whole photos: finding every face, the batched search, paste-back and the uncertainty map."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srnam import SRNAMPipeline, SearchSettings
from srnam.faces.detect import detect_faces
from srnam.faces.framing import iou
from srnam.faces.photo import compose, enhance_photo, feather_mask, uncertainty_map
from srnam.evaluation.synthetic_crowd import crowd_photo, match

PORTRAITS = sorted((Path(__file__).parent / "data" / "faces").glob("*.jpg"))


@pytest.fixture(scope="module")
def crowd():
    """A 320×240 photo with three faces of 40–56 px at known boxes (no camera: the detector's easy case)."""
    return crowd_photo([Image.open(p) for p in PORTRAITS[:3]], [40, 48, 56], width=320, height=240, seed=3,
                       degrade=False)


@pytest.fixture
def pipe(tiny_models):
    return SRNAMPipeline(*tiny_models, device="cpu")


def test_the_faces_of_a_synthetic_crowd_are_found_at_their_boxes(crowd):
    photo, truth = crowd
    assert len(truth) == 3
    found = detect_faces(photo, min_face=12)
    assert all(m is not None for m in match(found, truth))
    assert len(found) == 3  # and nothing else
    assert [b[2] - b[0] for b in found] == sorted((b[2] - b[0] for b in found), reverse=True)  # largest first
    with pytest.raises(ValueError, match="min_face must be at least 1"):
        detect_faces(photo, min_face=0)


def _square_mask(shape, face, scale: int) -> np.ndarray:
    """The pixels (by their centres) of ``face``'s searched square in the photo enlarged ``scale``×."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    if face.framing is None:
        x0, y0, x1, y1 = (v * scale for v in face.crop_box)
        return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    unit = face.framing.scaled(scale).to_unit(np.stack([xs.ravel(), ys.ravel()], 1)).reshape(*shape, 2)
    return ((unit >= 0) & (unit <= 1)).all(-1)


@pytest.mark.parametrize("align", [True, False])
def test_enhance_photo_changes_the_faces_only_inside_their_squares(pipe, crowd, align):
    photo, _ = crowd
    calls = []
    result = enhance_photo(pipe, photo, search=SearchSettings(num_candidates=3, num_steps=4, seed=1), scale=2,
                           align=align, callback=lambda state: calls.append(tuple(state.l1.shape)))
    assert len(result.faces) == 3 and result.faces_found == 3 and result.choices == [0, 0, 0]
    assert calls == [(3, 3)] * 4  # all faces' candidates in one batch
    assert result.composed.size == (640, 480)
    enlarged = np.asarray(photo.resize((640, 480), Image.Resampling.BICUBIC), np.int16)
    composed = np.asarray(result.composed, np.int16)
    inside = np.zeros((480, 640), bool)
    for face in result.faces:
        assert face.aligned == align
        square = _square_mask((480, 640), face, 2)
        inside |= square
        assert face.lr_input.size == (16, 16) and len(face.output.hr_candidates) == 3 and len(face.lr_psnr) == 3
        assert face.uncertainty.size == (64, 64)
        assert np.abs(composed[square] - enlarged[square]).mean() > 1  # the face was replaced
    assert np.array_equal(composed[~inside], enlarged[~inside])  # nothing else moved
    # the square's edge is the photo's own (the mask is zero there): no seam
    square = _square_mask((480, 640), result.faces[0], 2)
    edge = square & ~np.roll(square, 1, axis=0)  # the square's top row (turned or not)
    assert np.abs(composed[edge] - enlarged[edge]).max() <= 1


def test_compose_redraws_other_choices_without_searching(pipe, crowd):
    photo, _ = crowd
    result = enhance_photo(pipe, photo, scale=1, search=SearchSettings(num_candidates=2, num_steps=2, seed=0))
    first = compose(result)
    assert np.array_equal(np.asarray(first), np.asarray(result.composed))
    other = compose(result, [1, 0, 1])
    assert not np.array_equal(np.asarray(other), np.asarray(first)) and result.choices == [0, 0, 0]
    with pytest.raises(ValueError, match="one choice per face: 2 for 3 faces"):
        compose(result, [0, 1])
    with pytest.raises(ValueError, match=r"candidates 0–1 \(or None: keep the photo\); got choice 2"):
        compose(result, [0, 2, 0])
    # None keeps the enlarged photo's own pixels for that face (scale 1: the photo itself)
    nothing = np.asarray(compose(result, [None, None, None]), np.int16)
    assert np.array_equal(nothing, np.asarray(photo.convert("RGB"), np.int16))
    one_kept = np.asarray(compose(result, [1, None, 1]), np.int16)
    square = _square_mask(one_kept.shape[:2], result.faces[1], 1)
    others = _square_mask(one_kept.shape[:2], result.faces[0], 1) | _square_mask(one_kept.shape[:2], result.faces[2], 1)
    alone = square & ~others
    assert alone.any() and np.array_equal(one_kept[alone], nothing[alone])
    assert np.array_equal(one_kept[~square], np.asarray(other, np.int16)[~square])


def test_a_photo_without_faces_and_the_limits(pipe):
    empty = Image.new("RGB", (100, 80), (90, 120, 150))
    result = enhance_photo(pipe, empty, scale=3, search=SearchSettings(num_steps=1))
    assert result.faces == [] and result.composed.size == (300, 240)
    with pytest.raises(ValueError, match="scale must be between 1 and 8, got 9"):
        enhance_photo(pipe, empty, scale=9)
    with pytest.raises(ValueError, match="lr_mode must be one of area, degrade"):
        enhance_photo(pipe, empty, lr_mode="as-is")


@pytest.mark.parametrize("arguments, error, message", [
    ({"min_face": None}, TypeError, "min_face must be an integer, got None"),
    ({"min_face": 2.5}, TypeError, "min_face must be an integer, got 2.5"),
    ({"min_face": True}, TypeError, "min_face must be an integer, got True"),
    ({"max_faces": 0}, ValueError, "max_faces must be at least 1, got 0"),
    ({"search": SearchSettings(num_candidates=0)}, ValueError, "num_candidates must be between 1 and 64, got 0"),
    ({"search": SearchSettings(num_steps="300")}, TypeError, "num_steps must be an integer, got '300'"),
    ({"search": SearchSettings(seed=-1)}, ValueError, "seed must be between 0 and"),
    ({"search": SearchSettings(learning_rate=float("nan"))}, ValueError, "learning_rate must be a number in"),
    ({"search": SearchSettings(optimize_noise="yes")}, TypeError, "optimize_noise must be True or False"),
])
def test_every_argument_is_checked_up_front_even_on_a_photo_without_faces(pipe, arguments, error, message):
    empty = Image.new("RGB", (100, 80), (90, 120, 150))  # no face: the search itself never runs
    with pytest.raises(error, match=message):
        enhance_photo(pipe, empty, **arguments)


def test_max_faces_keeps_the_largest_and_says_how_many_were_found(pipe, crowd):
    result = enhance_photo(pipe, crowd[0], max_faces=2, search=SearchSettings(num_candidates=1, num_steps=1))
    assert len(result.faces) == 2 and result.faces_found == 3
    assert result.limits_applied() == ["3 faces were found; the 2 largest were searched"]
    # the detector cannot go below 40 px
    large = enhance_photo(pipe, Image.new("RGB", (1920, 1080)), search=SearchSettings(num_steps=1))
    assert large.limits_applied() == [
        "faces under 40 px cannot be found in a photo this large (the smallest asked for was 12 px)"]
    widths = [f.box[2] - f.box[0] for f in result.faces]
    assert min(widths) >= max(b[2] - b[0] for b in detect_faces(crowd[0])[2:])


def test_uncertainty_is_black_where_candidates_agree_and_bright_where_they_differ():
    same = torch.full((4, 3, 8, 8), 0.5)
    assert np.asarray(uncertainty_map(same)).max() == 0
    differ = same.clone()
    differ[:2, :, :4] = 0.0  # the top half: two candidates dark, two bright
    differ[2:, :, :4] = 1.0
    heat = np.asarray(uncertainty_map(differ))
    assert (heat[:4] == (255, 255, 0)).all() and heat[4:].max() == 0  # full scale (yellow) on top, black below
    pil = [Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)) for x in differ]
    assert np.array_equal(np.asarray(uncertainty_map(pil)), heat)


@pytest.mark.parametrize("std, colour", [(0.02, "black"), (0.08, "red"), (0.2, "yellow")])
def test_the_map_has_a_fixed_measured_scale_black_below_its_floor(std, colour):
    # the candidates' spread on the demo's faces: p25 0.028 (black from there down), p99 0.135 (yellow from there)
    from srnam.faces.photo import UNCERTAINTY_BLACK, UNCERTAINTY_FULL_SCALE, uncertainty_legend

    assert (UNCERTAINTY_BLACK, UNCERTAINTY_FULL_SCALE) == (0.028, 0.135)
    candidates = torch.full((2, 3, 4, 4), 0.5)
    candidates[0] += std  # two candidates 2·std apart: a per-pixel standard deviation of std
    candidates[1] -= std
    r, g, b = np.asarray(uncertainty_map(candidates))[0, 0].tolist()
    assert {"black": (r, g, b) == (0, 0, 0), "red": r > 100 and g == b == 0,
            "yellow": (r, g, b) == (255, 255, 0)}[colour], (r, g, b)
    legend = np.asarray(uncertainty_legend(256))
    assert legend.shape == (44, 256, 3) and legend[5, 0].max() == 0 and tuple(legend[5, -1]) == (255, 255, 0)


def test_the_feather_mask_is_zero_at_the_edges_and_full_inside():
    mask = np.asarray(feather_mask(100))
    assert mask[0].max() == 0 and mask[:, 0].max() == 0 and mask[50, 50] == 255
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_the_detector_upsamples_small_photos_for_small_faces_and_large_ones_less():
    from srnam.faces.detect import hog_upsampling, smallest_findable_face

    assert hog_upsampling((640, 480), 12) == (3, 1.0)  # 8×: 12 px faces fill the 80 px window
    assert hog_upsampling((640, 480), 40) == (1, 1.0)  # 2× is enough for 40 px
    assert smallest_findable_face((640, 480)) == 12
    assert hog_upsampling((1920, 1080), 12) == (1, 1.0) and smallest_findable_face((1920, 1080)) == 40
    k, shrink = hog_upsampling((8000, 5000), 12)  # 40 MP: reduced to 20 MP, not upsampled
    assert k == 0 and shrink == pytest.approx(0.5 ** 0.5)
    assert smallest_findable_face((8000, 5000)) == 114


def test_too_large_an_enlargement_is_refused_and_the_app_scale_is_lowered():
    from srnam.faces.photo import check_scale, largest_scale

    with pytest.raises(ValueError, match=r"enlarged 8× would be 40000×32000 pixels, more than the 100 MP allowed"):
        check_scale((5000, 4000), 8)
    assert largest_scale((5000, 4000), 8) == 2 and largest_scale((640, 480), 4) == 4
    assert largest_scale((640, 480), 8, max_pixels=5_000_000) == 4


def test_result_images_are_the_cli_and_zip_layout_and_follow_the_choices(pipe, crowd):
    from srnam.faces.photo import annotated, result_images

    result = enhance_photo(pipe, crowd[0], search=SearchSettings(num_candidates=2, num_steps=2, seed=0), scale=1,
                           align=False)
    images = result_images(result, [1, 0, 0])
    assert set(images) == {"composed.png", "faces.png"} | {
        f"face_{n:02d}/{name}" for n in (1, 2, 3) for name in (
            "lr_input.png", "uncertainty.png", "grid.png", "candidate_01.png", "candidate_02.png",
            "projection_01.png", "projection_02.png")}
    assert np.array_equal(np.asarray(images["composed.png"]), np.asarray(compose(result, [1, 0, 0])))
    assert images["face_01/candidate_02.png"] is result.faces[0].output.hr_candidates[1]
    drawn = np.asarray(annotated(result), np.int16)
    boxes = drawn - np.asarray(crowd[0], np.int16)
    x0, y0, x1, y1 = result.faces[0].crop_box  # the square's outline is drawn, its inside is the photo's
    mid = (y0 + y1) // 2  # below the number, which takes the square's top-left corner
    assert np.abs(boxes[y0, x0 + 2:x1 - 2]).max() > 50 and np.abs(boxes[mid:y1 - 8, x0 + 8:x1 - 8]).max() == 0
    # the number: yellow inside a black outline (legible on any background), as high as a third of its square
    corner = (slice(y0 + 2, mid), slice(x0 + 2, (x0 + x1) // 2))
    changed = np.abs(boxes[corner]).max(-1) > 30
    yellow = (np.abs(drawn[corner] - (255, 220, 0)).max(-1) < 40) & changed
    black = (drawn[corner].max(-1) < 40) & changed
    assert yellow.sum() > 8 and black.sum() > 8
    rows = np.nonzero(changed.any(1))[0]
    assert rows.max() - rows.min() + 1 >= (x1 - x0) // 4


def test_large_detections_need_dlibs_own_threshold_so_the_real_examples_patches_are_no_faces():
    from srnam.faces.detect import LARGE_FACE, detect_faces, is_kept

    from demo.photo_tab import REAL_EXAMPLE

    assert is_kept((0, 0, LARGE_FACE - 1, LARGE_FACE - 1), -0.5) and not is_kept((0, 0, LARGE_FACE, LARGE_FACE), -0.1)
    assert detect_faces(Image.open(REAL_EXAMPLE)) == [(179, 77, 279, 176)]  # her face; not the two patches


def test_an_aligned_face_is_searched_upright_and_drawn_as_its_turned_square(pipe):
    from srnam.faces.photo import annotated

    photo = Image.new("RGB", (400, 400), (90, 120, 150))  # room around the face for its turned square
    photo.paste(Image.open(PORTRAITS[0]).convert("RGB").resize((256, 256), Image.Resampling.LANCZOS), (72, 72))
    tilted = photo.rotate(25, resample=Image.Resampling.BICUBIC, fillcolor=(90, 120, 150))
    result = enhance_photo(pipe, tilted, scale=1, search=SearchSettings(num_candidates=2, num_steps=2, seed=0))
    (found,) = result.faces
    assert found.aligned and found.framing.angle == pytest.approx(25, abs=5)
    drawn = np.abs(np.asarray(annotated(result), np.int16) - np.asarray(tilted, np.int16)).max(-1) > 30
    for corner in found.framing.corners():  # the outline passes through the turned square's corners
        x, y = np.round(corner).astype(int)
        assert drawn[y - 2:y + 3, x - 2:x + 3].any(), corner
    unaligned = enhance_photo(pipe, tilted, search=SearchSettings(num_candidates=2, num_steps=2, seed=0), scale=1,
                              align=False)
    assert not unaligned.faces[0].aligned and unaligned.faces[0].framing is None


def test_whole_photos_pass_every_search_setting_on(pipe, crowd):
    """optimize_noise reaches the search (it was once dropped): with it the camera noise is searched, and the
    candidates differ from a search with the noise fixed."""
    photo, _ = crowd
    settings = SearchSettings(num_candidates=2, num_steps=3, seed=0)
    fixed = enhance_photo(pipe, photo, search=settings, scale=1)
    searched = enhance_photo(pipe, photo, search=replace(settings, optimize_noise=True), scale=1)
    first, second = fixed.faces[0].output, searched.faces[0].output
    assert first.lr_l1 != second.lr_l1  # were it dropped, the two searches would be bit-identical
