"""The demo's "Whole photo" tab through gradio_client: every face searched, composed, chosen again, downloaded.

The app is served on 127.0.0.1 with tiny random models (see test_app.py); the photo is the tab's example, a
synthetic crowd whose faces are found by the detector.
"""
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from conftest import make_tiny_models
from srnam import SRNAMPipeline, SearchSettings
from srnam.faces.alignment import align_face
from srnam.faces.detect import detect_faces, framing_from_detection
from srnam.faces.photo import enhance_photo
from test_app import serve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from demo import Limits  # noqa: E402
from demo.photo_tab import EXAMPLE, REAL_EXAMPLE, tile_choice  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
ROLES = ["status", "composed", "faces", "gallery", "downloads"]  # the state output is not sent to API clients


@pytest.fixture(scope="module")
def client():
    demo, _ = serve(SRNAMPipeline(*make_tiny_models(), device="cpu"), Limits(preview_seconds=0.2))
    yield Client(demo.local_url, verbose=False)
    demo.close()


def photo(client, path=EXAMPLE, candidates=2, steps=3, seed=0, scale=2, lr_mode="area") -> dict:
    return _by_name(client.predict(handle_file(str(path)), candidates, steps, seed, scale, lr_mode, api_name="/photo"))


def choose(client, face, candidate) -> dict:
    return _by_name(client.predict(face, candidate, api_name="/photo_choose"))


def _by_name(values) -> dict:
    out = dict(zip(ROLES, values))
    # the shape view_api() documents (or Gradio's "unchanged" marker, for a reply that sets only the status)
    assert isinstance(out["gallery"], list) or out["gallery"] == {"__type__": "update"}, out["gallery"]
    return out


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


def squares(scale: int) -> list:
    """The example's searched squares in the composed photo, largest face first (the numbering of the page): each
    face's training-framing square, turned onto the corpus's landmarks as enhance_photo aligns it."""
    photo = Image.open(EXAMPLE).convert("RGB")
    return [align_face(photo, framing_from_detection(b)).scaled(scale) for b in detect_faces(photo)]


def inside(shape, framings) -> np.ndarray:
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    centres = np.stack([xs.ravel(), ys.ravel()], 1)
    mask = np.zeros(shape[0] * shape[1], bool)
    for framing in framings:
        mask |= ((framing.to_unit(centres) >= 0) & (framing.to_unit(centres) <= 1)).all(1)
    return mask.reshape(shape[:2])


def test_every_face_is_searched_and_put_back_inside_its_square_only(client):
    out = photo(client)
    boxes = squares(2)
    assert out["status"].startswith(f"{len(boxes)} faces × 2 candidates × 3 steps"), out["status"]
    original = Image.open(EXAMPLE).convert("RGB")
    composed = pixels(out["composed"])
    assert composed.shape == (original.height * 2, original.width * 2, 3)
    enlarged = np.asarray(original.resize((original.width * 2, original.height * 2), Image.Resampling.BICUBIC),
                          np.int16)
    changed = np.abs(composed - enlarged).max(axis=2) > 0
    assert changed.any() and not changed[~inside(composed.shape, boxes)].any()
    # one gallery row per face: LR input, uncertainty map, then the candidates, the chosen one ticked
    captions = [item["caption"] for item in out["gallery"]]
    assert len(captions) == len(boxes) * 4
    assert captions[:4] == ["1 · LR input", "1 · uncertainty", captions[2], captions[3]]
    assert captions[2].startswith("1 · #1 · ") and captions[2].endswith(" dB ✓") and "✓" not in captions[3]
    assert [Path(f).name for f in out["downloads"]] == ["composed.png", "candidates.zip"]
    assert pixels(out["downloads"][0]).shape == composed.shape  # full size
    with zipfile.ZipFile(out["downloads"][1]) as zipped:
        names = set(zipped.namelist())
        assert {"composed.png", "faces.png", "face_01/candidate_02.png", "face_01/uncertainty.png",
                f"face_{len(boxes):02d}/lr_input.png"} <= names
        assert Image.open(io.BytesIO(zipped.read("face_01/candidate_01.png"))).size == (64, 64)


def test_clicking_another_candidate_changes_that_face_only(client):
    first = photo(client, seed=3)
    again = choose(client, 1, 2)
    assert again["status"] == "Face 1: candidate #2 chosen."
    boxes = squares(2)
    before, after = pixels(first["composed"]), pixels(again["composed"])
    changed = np.abs(after - before).max(axis=2) > 0
    assert changed.any() and not changed[~inside(after.shape, boxes[:1])].any()
    captions = [item["caption"] for item in again["gallery"]]
    assert not captions[2].endswith("✓") and captions[3].endswith("✓")
    with zipfile.ZipFile(again["downloads"][1]) as zipped:  # the zip's composed photo follows the choice
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(zipped.read("composed.png"))), np.int16), after)


def test_the_gallery_tiles_map_to_faces_and_candidates():
    class Result:  # what tile_choice reads of a PhotoResult: faces with K candidates
        faces = [type("Face", (), {"output": type("Out", (), {"hr_candidates": [0, 0, 0]})})] * 2

    assert [tile_choice(Result, i) for i in range(11)] == [  # an LR input: candidate 0, keep the photo
        (1, 0), None, (1, 1), (1, 2), (1, 3), (2, 0), None, (2, 1), (2, 2), (2, 3), None]
    assert tile_choice(None, 2) is None


def test_choosing_candidate_0_keeps_the_photos_own_pixels_for_that_face_only(client):
    first = photo(client, seed=5)
    kept = choose(client, 2, 0)
    assert kept["status"] == "Face 2: the photo's own pixels kept."
    original = Image.open(EXAMPLE).convert("RGB")
    enlarged = np.asarray(original.resize((original.width * 2, original.height * 2), Image.Resampling.BICUBIC),
                          np.int16)
    boxes = squares(2)
    before, after = pixels(first["composed"]), pixels(kept["composed"])
    face_2 = inside(after.shape, boxes[1:2]) & ~inside(after.shape, boxes[:1] + boxes[2:])  # not overlapped
    assert np.abs(before - enlarged).max(axis=2)[face_2].any()  # a candidate was there
    assert not np.abs(after - enlarged).max(axis=2)[face_2].any()  # now the enlarged photo itself
    outside = ~inside(after.shape, boxes[1:2])
    assert np.array_equal(after[outside], before[outside])
    captions = [item["caption"] for item in kept["gallery"]]
    assert captions[4] == "2 · LR input · photo kept ✓" and not any(c.endswith("✓") for c in captions[5:8])
    assert captions[0] == "1 · LR input" and captions[2].endswith("✓")
    faces_image = pixels(kept["faces"])
    assert (faces_image == (170, 170, 170)).all(axis=2).any()  # face 2's square is drawn grey
    back = choose(client, 2, 1)
    assert back["status"] == "Face 2: candidate #1 chosen."
    assert np.array_equal(pixels(back["composed"]), before)


@pytest.mark.parametrize("request_values, message", [
    ({"candidates": 0}, "Number of candidates must be a whole number from 1 to 16 (got 0)"),
    ({"scale": 9}, "Scale must be a whole number from 1 to 8 (got 9)"),
    ({"lr_mode": "as-is"}, "LR input mode must be one of area, degrade (got 'as-is')"),
])
def test_out_of_range_values_are_refused(client, request_values, message):
    out = photo(client, **request_values)
    assert out["status"].startswith("**Cannot run.**") and message in out["status"], out["status"]


def test_bad_files_and_bad_choices_get_a_message_and_the_server_keeps_serving(tmp_path):
    demo, _ = serve(SRNAMPipeline(*make_tiny_models(), device="cpu"), Limits(preview_seconds=0.2))
    try:
        client = Client(demo.local_url, verbose=False)
        assert choose(client, 1, 1)["status"].startswith("**Nothing to choose from yet.**")
        text = tmp_path / "notes.jpg"
        text.write_text("not a photo")
        assert "notes.jpg: not an image file" in photo(client, text)["status"]
        dot = tmp_path / "dot.png"
        Image.new("RGB", (1, 1)).save(dot)
        assert "dot.png: image too small (1×1)" in photo(client, dot)["status"]
        wall = tmp_path / "Family reunion at grandma's house, summer 2024 - everyone.png"  # a long name opens too
        Image.new("RGB", (120, 90), (90, 120, 150)).save(wall)
        empty = photo(client, wall)
        assert empty["status"].startswith("**No faces found**") and empty["gallery"] == []
        assert pixels(empty["composed"]).shape == (180, 240, 3)
        assert "no faces to choose for" in choose(client, 1, 1)["status"]
        photo(client)
        faces = len(squares(1))
        assert f"Face must be a whole number from 1 to {faces} (got {faces + 1})" in \
            choose(client, faces + 1, 1)["status"]
        assert "Candidate must be a whole number from 0 to 2 (got 3)" in choose(client, 1, 3)["status"]
        assert "(got -1). (0 keeps the photo's own pixels.)" in choose(client, 1, -1)["status"]
    finally:
        demo.close()


def test_the_api_documents_the_gallery_it_returns(client):
    returns = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/photo"]["returns"]
    gallery = next(r for r in returns if r["label"].startswith("Per face"))
    assert gallery["type"]["type"] == "array", gallery  # a list of tiles, as photo() checks each reply is
    tiles = photo(client)["gallery"]
    assert {"image", "caption"} <= set(tiles[0]) and tiles[0]["caption"] == "1 · LR input"


def test_a_dropped_result_says_it_expired_and_large_photos_are_refused_from_the_header(tmp_path):
    from test_images import _png_header_only

    from demo.photo_results import result_bytes

    # room for one result of the example (the photo's pixels and its faces' images): a second page's evicts it
    pipe = SRNAMPipeline(*make_tiny_models(), device="cpu")
    probe = result_bytes(enhance_photo(pipe, EXAMPLE, scale=2, search=SearchSettings(num_candidates=2, num_steps=1)))
    limits = Limits(preview_seconds=0.2, kept_bytes=probe + 100, kept_result_bytes=probe + 100,
                    max_photo_pixels=probe // 3)
    demo, _ = serve(pipe, limits)
    try:
        first, second = Client(demo.local_url, verbose=False), Client(demo.local_url, verbose=False)
        photo(first)
        assert choose(first, 1, 2)["status"] == "Face 1: candidate #2 chosen."
        photo(second)  # the first page's result is dropped to keep the budget
        assert choose(first, 1, 1)["status"].startswith("**This photo's result has expired**")
        assert choose(second, 1, 2)["status"] == "Face 1: candidate #2 chosen."
        bomb = _png_header_only(tmp_path / "black.png", 6000, 6000)  # a few bytes claiming 36 MP: never decoded
        status = photo(second, bomb)["status"]
        assert f"black.png: image too large (6000×6000 = 36 MP; the limit is {probe // 3 / 1e6:.3g} MP)" in status
    finally:
        demo.close()


def test_the_real_photo_example_has_its_one_face_found_and_not_the_mission_patches(client):
    out = photo(client, REAL_EXAMPLE, candidates=2, steps=2)
    assert out["status"].startswith("1 face × 2 candidates × 2 steps"), out["status"]
    assert pixels(out["composed"]).shape == (1024, 1024, 3) and len(out["gallery"]) == 4


def test_the_work_cap_searches_the_largest_faces_and_says_so():
    demo, _ = serve(SRNAMPipeline(*make_tiny_models(), device="cpu"), Limits(preview_seconds=0.2, max_photo_work=12))
    try:
        out = photo(Client(demo.local_url, verbose=False), candidates=2, steps=3)  # 12 // 6: two faces
        found = len(squares(1))
        assert out["status"].startswith("2 faces × 2 candidates × 3 steps"), out["status"]
        assert f"{found} faces were found; the 2 largest were searched" in out["status"]
        assert len(out["gallery"]) == 2 * 4
    finally:
        demo.close()


def test_stop_ends_the_photo_search_with_the_candidates_so_far(client):
    import time

    job = client.submit(handle_file(str(EXAMPLE)), 1, 1000, 0, 1, "area", api_name="/photo")
    deadline = time.monotonic() + 60
    while not any(str(v[0]).startswith("Searching: step") for v in job.outputs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    client.predict(api_name="/stop")  # the page's Stop buttons share this session's switches
    out = _by_name(job.result())
    assert "(stopped early)" in out["status"], out["status"]
    assert out["gallery"] and out["composed"] is not None
