"""The app's store of whole-photo results: a byte budget, least recently used dropped first, and an age limit."""
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from demo.photo_results import EXPIRED, PhotoResults, result_bytes  # noqa: E402
from srnam.faces.photo import PhotoResult  # noqa: E402


def _result(side: int) -> PhotoResult:
    photo = Image.new("RGB", (side, side))
    return PhotoResult(photo, 2, [], faces_found=0, smallest_face=12, choices=[], composed=photo.resize((side * 2,) * 2))


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_the_least_recently_used_results_go_first_and_the_composed_photo_is_not_kept():
    assert result_bytes(_result(100)) == 30_000  # the photo only: no faces, and the composed photo is not counted
    store = PhotoResults(max_bytes=70_000, max_result_bytes=40_000, max_age=60, clock=Clock())
    a, b = store.put(_result(100)), store.put(_result(100))
    assert store.get(a).composed is None and store.total_bytes == 60_000
    c = store.put(_result(100))  # over the budget: b is the least recently used (a was just read)
    assert store.get(b) == EXPIRED and isinstance(store.get(a), PhotoResult) and isinstance(store.get(c), PhotoResult)
    assert len(store) == 2 and store.total_bytes == 60_000
    assert store.put(_result(200)) is None and len(store) == 2  # 120 kB: over one result's cap, not kept
    assert store.get(None) is None and store.get("never-issued") == EXPIRED


def test_results_unused_for_max_age_expire():
    clock = Clock()
    store = PhotoResults(max_bytes=10**6, max_result_bytes=10**5, max_age=60, clock=clock)
    old = store.put(_result(50))
    clock.now = 50
    recent = store.put(_result(50))
    clock.now = 70  # `old` unused for 70 s, `recent` for 20 s
    assert store.get(old) == EXPIRED and isinstance(store.get(recent), PhotoResult)
    with pytest.raises(ValueError, match="above the total"):
        PhotoResults(max_bytes=10, max_result_bytes=20, max_age=1)
