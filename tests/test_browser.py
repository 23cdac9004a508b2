"""The page in a real browser: Debian's Chromium (CI installs it with apt) driven by Playwright.

Playwright cannot download its own browsers here, so it is pointed at the system Chromium. The test
leaves a screenshot of the finished page in build/test-artifacts/ (build/ is git-ignored).
"""
import re
import sys
from pathlib import Path

import pytest
from hub_server import reserve_port

from conftest import make_tiny_models
from srnam import SRNAMPipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the demo package sits next to app.py; it is not installed
from demo import Limits, ServerNotice, build_demo, launch  # noqa: E402

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)
SCREENSHOT = ROOT / "build" / "test-artifacts" / "browser-result.png"

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium); "
                                                "Playwright cannot download a browser of its own here"),
    # Gradio's own usage statistics call pandas APIs that pandas 3 deprecates: not ours to fix.
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def page_url():
    limits, notice = Limits(preview_seconds=0.2), ServerNotice()
    demo = build_demo(SRNAMPipeline(*make_tiny_models(), device="cpu"), limits, notice)
    launch(demo, limits, notice, host="127.0.0.1", port=reserve_port())
    yield demo.local_url
    demo.close()


@pytest.fixture
def page(page_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                            "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(page_url)
        yield page
        browser.close()


def _set_slider(page, elem_id: str, value: int) -> None:
    page.locator(f"#{elem_id} input[type=range]").fill(str(value))
    assert page.locator(f"#{elem_id} input[type=number]").input_value() == str(value)


def _upload_and_run(page, tab: str, image: Path, candidates: int, steps: int, expected_status: str):
    """Upload ``image`` in a tab (``tab`` is its elements' id prefix), set the two sliders, press its button and
    wait for the status line; returns the gallery's thumbnails."""
    page.locator(f"#{tab}-input input[type=file]").set_input_files(str(image))
    page.locator(f"#{tab}-input img").wait_for()  # the upload is shown
    _set_slider(page, f"{tab}-candidates", candidates)
    _set_slider(page, f"{tab}-steps", steps)
    page.locator(f"#{tab}-run").click()
    page.locator(f"#{tab}-status").filter(has_text=re.compile(expected_status)).wait_for()
    return page.locator(f"#{tab}-gallery .thumbnail-item")


def test_upload_move_sliders_run_and_see_the_candidates(page):
    thumbnails = _upload_and_run(page, "srnam", ROOT / "demo" / "examples" / "dev_00002.jpg", 3, 60,
                                 r"3 candidates × 60 steps")
    assert thumbnails.count() == 3
    assert [thumbnails.nth(k).get_attribute("aria-label") for k in range(3)] == [
        f"Thumbnail {k} of 3" for k in (1, 2, 3)]
    assert page.locator("#srnam-gallery").get_by_text(re.compile(r"#1 · [0-9.]+ dB")).count() == 1
    # every caption fits its label (no "PSNR 28…" ellipsis), and the gallery is no taller than its one row
    # of thumbnails needs (it was a fixed box, mostly empty)
    labels = page.locator("#srnam-gallery .caption-label")
    assert labels.count() == 3 and all(labels.nth(k).evaluate("e => e.scrollWidth <= e.clientWidth")
                                       for k in range(3))
    gallery_box = page.locator("#srnam-gallery").bounding_box()
    thumb_box = thumbnails.nth(0).bounding_box()
    assert gallery_box["height"] < thumb_box["height"] + 80, (gallery_box, thumb_box)  # the row and the label
    assert page.locator("#srnam-grid img").count() == 1
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_bad_file_gets_a_message_then_an_example_works(page, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    page.locator("#srnam-input input[type=file]").set_input_files(str(text))
    page.locator("#srnam-run").click()
    page.locator("#srnam-status").filter(has_text="Cannot use this file. notes.png: not an image file").wait_for()
    page.locator("#srnam-examples .gallery-item").first.click()  # dev_00000.jpg
    _set_slider(page, "srnam-steps", 50)
    page.locator("#srnam-run").click()
    page.locator("#srnam-status").filter(has_text=re.compile(r"4 candidates × 50 steps")).wait_for()
    assert page.locator("#srnam-gallery .thumbnail-item").count() == 4


def test_whole_photo_tab_enhance_then_click_a_candidate_to_choose_it(page):
    from srnam.faces.detect import detect_faces
    from PIL import Image

    crowd = ROOT / "demo" / "examples" / "photos" / "crowd.jpg"
    faces = len(detect_faces(Image.open(crowd)))
    page.get_by_role("tab", name="Whole photo").click()
    thumbnails = _upload_and_run(page, "srnam-photo", crowd, 2, 50, rf"{faces} faces × 2 candidates × 50 steps")
    status = page.locator("#srnam-photo-status")
    assert thumbnails.count() == faces * 4  # per face: LR input, uncertainty map, two candidates
    composed = page.locator("#srnam-photo-composed img")
    before = composed.get_attribute("src")
    thumbnails.nth(3).click()  # face 1, candidate #2
    status.filter(has_text="Face 1: candidate #2 chosen.").wait_for()
    page.wait_for_function("([sel, old]) => document.querySelector(sel).getAttribute('src') !== old",
                           arg=["#srnam-photo-composed img", before])
    assert page.locator("#srnam-photo-gallery").get_by_text(re.compile(r"1 · #2 · [0-9.]+ dB ✓")).count() == 1
    page.screenshot(path=str(SCREENSHOT.with_name("browser-photo.png")), full_page=True)
    downloads = "".join(page.locator("#srnam-photo-downloads").inner_text().split())  # the page breaks the names
    assert "composed.png" in downloads and "candidates.zip" in downloads, downloads
    thumbnails.nth(4).click()  # face 2's LR input: keep the photo's own pixels there
    status.filter(has_text="Face 2: the photo's own pixels kept.").wait_for()
    assert page.locator("#srnam-photo-gallery").get_by_text("2 · LR input · photo kept ✓").count() == 1
