"""The Gradio demo, served on 127.0.0.1 with tiny random models and driven through gradio_client.

conftest.py has set GRADIO_ANALYTICS_ENABLED=False and pointed the Hub at a local server; app.py runs in a
subprocess with HF_HUB_OFFLINE=1 and every outside HTTP request failing (an unreachable proxy).
"""
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio.networking
import numpy as np
import pytest
from gradio_client import Client, handle_file
from hub_server import reserve_port
from PIL import Image
from test_images import _png_header_only

from conftest import make_tiny_models
from srnam import SRNAMPipeline
from srnam.faces.lr_input import make_lr_input

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the demo package sits next to app.py; it is not installed
from demo import Limits, ServerNotice, build_demo, launch  # noqa: E402
from demo.search import lr_psnr  # noqa: E402
from demo.serving import BadRequest, StopSwitches, parse_request  # noqa: E402

pytestmark = [  # Gradio's own usage statistics call pandas APIs that pandas 3 deprecates: not ours to fix.
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

EXAMPLE = ROOT / "demo" / "examples" / "dev_00000.jpg"
FAST = Limits(preview_seconds=0.2)  # frequent previews, so that short searches show some


class RecordingPipeline(SRNAMPipeline):
    """Keeps each output, so a test can see how a search ended (e.g. stopped early after a cancel)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorded = []

    def run(self, *args, **kwargs):  # what __call__ and the app go through
        outputs = super().run(*args, **kwargs)
        self.recorded.append(outputs[0])
        return outputs


def serve(pipe, limits=FAST, share=False):
    notice = ServerNotice()
    demo = build_demo(pipe, limits, notice)
    share_url = launch(demo, limits, notice, host="127.0.0.1", port=reserve_port(), share=share)
    return demo, share_url


@pytest.fixture(scope="module")
def pipe():
    return RecordingPipeline(*make_tiny_models(), device="cpu")


@pytest.fixture(scope="module")
def app(pipe):
    demo, _ = serve(pipe)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.local_url, verbose=False)


def by_name(values) -> dict:
    """The outputs of /search, in the order build_demo lists them, by name."""
    return dict(zip(["status", "reference", "lr_input", "grid", "gallery", "scores", "downloads"], values))


def search(client, image, candidates=2, steps=3, seed=0, learning_rate=0.4, lr_mode="auto", noise_seed=0):
    """One request; returns the outputs by name."""
    return by_name(client.predict(handle_file(str(image)), candidates, steps, seed, learning_rate, lr_mode,
                                  noise_seed, api_name="/search"))


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_api_names_its_outputs(client):
    returns = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/search"]["returns"]
    labels = [r["label"] for r in returns]
    assert labels[0] == "status" and not any(label.startswith("value_") for label in labels), labels


def test_candidates_come_back_with_scores(client, pipe):
    out = search(client, EXAMPLE, candidates=3, steps=4, seed=5)
    assert out["status"].startswith("3 candidates × 4 steps") and "seed 5" in out["status"]
    assert [item["caption"].split()[0] for item in out["gallery"]] == ["#1", "#2", "#3"]
    assert all(re.fullmatch(r"#\d · \d+\.\d dB", item["caption"]) for item in out["gallery"])  # short: never cut
    # The scores are those of the pipeline itself, for the same LR input and seed.
    lr = make_lr_input(str(EXAMPLE), "auto", pipe.degradation)
    direct = pipe(lr.lr, num_candidates=3, num_steps=4, seed=5)
    assert [row[1] for row in out["scores"]["data"]] == [round(v, 4) for v in direct.lr_l1]
    assert [row[2] for row in out["scores"]["data"]] == [round(db, 2) for db in lr_psnr(direct)]
    names = [Path(f).name for f in out["downloads"]]
    assert names == ["grid.png", "candidate_01.png", "candidate_02.png", "candidate_03.png"]
    assert pixels(out["downloads"][1]).tobytes() == direct.hr_candidates[0].tobytes()  # 64×64, as made
    assert Image.open(out["grid"]).size == Image.open(out["downloads"][0]).size
    # A 128-px photo: the face is cropped (the reference); images are shown enlarged without smoothing.
    assert Image.open(out["reference"]).size == (256, 256)
    assert pixels(out["lr_input"]).tobytes() == lr.lr.resize((256, 256), Image.Resampling.NEAREST).tobytes()


def test_same_seed_same_images(client):
    first, again, other = (search(client, EXAMPLE, seed=s) for s in (7, 7, 8))
    images = [[pixels(item["image"]).tobytes() for item in out["gallery"]] for out in (first, again, other)]
    assert images[0] == images[1] and images[0] != images[2]


def test_intermediate_grids_stream_while_searching(client):
    job = client.submit(handle_file(str(EXAMPLE)), 2, 60, 0, 0.4, "auto", 0, api_name="/search")
    job.result()
    statuses = [values[0] for values in job.outputs()]
    assert any(s.startswith("Searching: step") and "<progress" in s for s in statuses), statuses
    assert statuses[-1].startswith("2 candidates × 60 steps")


def _start_long_search(client):
    """Submit a search of 1000 steps and return its job once the first intermediate grid has come."""
    job = client.submit(handle_file(str(EXAMPLE)), 2, 1000, 0, 0.4, "auto", 0, api_name="/search")
    deadline = time.monotonic() + 30
    while not any(v[0].startswith("Searching: step") for v in job.outputs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def test_stop_button_ends_the_search_with_the_candidates_so_far(client):
    job = _start_long_search(client)
    client.predict(api_name="/stop")  # what the Stop button calls, for this client's session
    out = by_name(job.result())
    assert out["status"].startswith("Stopped after") and "of 1000 steps" in out["status"], out["status"]
    assert len(out["gallery"]) == 2 and len(out["downloads"]) == 3


def test_a_cancelled_request_stops_its_search(client, pipe):
    done_before = len(pipe.recorded)
    job = _start_long_search(client)
    job.cancel()  # Gradio closes the generator, as when a page is closed mid-search
    deadline = time.monotonic() + 30
    while len(pipe.recorded) == done_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pipe.recorded) == done_before + 1, "the search did not end"
    assert pipe.recorded[-1].stopped_early and len(pipe.recorded[-1].loss_history[0]) < 1000


class _Page:
    def __init__(self, session_hash):
        self.session_hash = session_hash


def test_stop_switches_stop_queued_searches_and_forget_closed_pages():
    switches, page, api = StopSwitches(), _Page("page"), _Page("api")
    switches.run_clicked(page)
    switches.press(page)  # while the search waits in the queue
    assert switches.take(page).is_set()
    switches.run_clicked(page)  # a new Run after that Stop: not stopped
    running = switches.take(page)
    assert not running.is_set()
    switches.press(page)
    assert running.is_set()
    calls = [switches.take(api), switches.take(api)]  # an API client's two requests at once: one switch each
    switches.release(api, calls[0])
    assert calls[0] is not calls[1] and not calls[1].is_set()
    switches.release(api, calls[1])
    switches.forget(page)
    assert switches.sessions() == 0


def _bad_file(tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "text":
        path.write_text("this is not an image")
    elif kind == "truncated":
        Image.effect_noise((64, 64), 50).convert("RGB").save(path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "bomb":
        _png_header_only(path, 20000, 20000)  # claims 400 MP in a few bytes; never decoded
    elif kind == "dot":
        Image.new("RGB", (1, 1)).save(path)
    return path


@pytest.mark.parametrize("kind, message", [
    ("text", "text.png: not an image file"),
    ("truncated", "truncated.png: truncated or corrupt image"),
    ("bomb", "bomb.png: image too large"),
    ("dot", "dot.png: image too small (1×1)"),
])
def test_bad_files_get_a_message_and_the_server_keeps_serving(client, tmp_path, kind, message):
    out = search(client, _bad_file(tmp_path, kind))
    assert out["status"].startswith("**Cannot use this file.**") and message in out["status"], out["status"]
    assert tempfile.gettempdir() not in out["status"]  # the user's file name, not the server's path
    assert out["gallery"] == [] and out["downloads"] is None
    assert search(client, EXAMPLE, candidates=1, steps=1)["status"].startswith("1 candidates")


def test_uploads_with_long_names_are_searched_and_named_without_the_server_path(client, tmp_path):
    # Gradio keeps an upload under a 64-character hash folder: a long user name made the path over 120 characters
    face = tmp_path / "Family reunion at grandma's house, summer 2024 - everyone.jpg"
    face.write_bytes(EXAMPLE.read_bytes())
    assert search(client, face, candidates=1, steps=1)["status"].startswith("1 candidates")
    broken = tmp_path / ("Holiday snapshots from the seaside, the whole family together at sunset - " * 2 + ".png")
    broken.write_text("not an image")
    status = search(client, broken)["status"]
    assert status.startswith(f"**Cannot use this file.** {broken.name[:120]}…: not an image file"), status
    assert tempfile.gettempdir() not in status


@pytest.mark.parametrize("kind", ["rgba", "gray", "cmyk", "16bit", "exif"])
def test_unusual_photos_are_converted(client, tmp_path, kind):
    face = Image.open(EXAMPLE).convert("RGB")
    path, options = tmp_path / f"{kind}.png", {}
    if kind == "rgba":
        face = face.convert("RGBA")
    elif kind == "gray":
        face = face.convert("L")
    elif kind == "cmyk":
        face, path = face.convert("CMYK"), path.with_suffix(".jpg")
    elif kind == "16bit":
        face = Image.fromarray(np.asarray(face.convert("L"), dtype=np.uint16) * 257)
    elif kind == "exif":
        face, path = face.rotate(90, expand=True), path.with_suffix(".jpg")
        options["exif"] = Image.Exif()
        options["exif"][0x0112] = 6  # "rotate 90° clockwise to display": upright again
    face.save(path, **options)
    out = search(client, path, candidates=1, steps=1)
    assert out["status"].startswith("1 candidates") and "No face found" not in out["status"], out["status"]
    assert "Face found and aligned" in out["status"], out["status"]  # and the crop shown is what was searched


def test_no_face_found_falls_back_to_the_centre_crop(client, tmp_path):
    path = tmp_path / "wall.png"
    Image.new("RGB", (200, 120), (90, 120, 150)).save(path)
    out = search(client, path, candidates=1, steps=1, lr_mode="area")
    assert "No face found" in out["status"] and "centre square" in out["status"]
    assert out["reference"] is not None and len(out["gallery"]) == 1


@pytest.mark.parametrize("field, value, message", [
    ("candidates", 17, "Number of candidates must be a whole number from 1 to 16 (got 17)"),
    ("candidates", 2.5, "Number of candidates must be a whole number"),
    ("steps", 1001, "Iteration budget must be a whole number from 1 to 1000 (got 1001)"),
    ("steps", "300", "Iteration budget must be a whole number"),
    ("seed", -1, "Seed must be a whole number from 0"),
    ("learning_rate", 0, "Learning rate must be a number above 0"),
    ("learning_rate", 50.0, "Learning rate must be a number above 0 and at most 1.0"),
    ("lr_mode", "magic", "LR input mode must be one of auto, as-is, area, degrade"),
    ("noise_seed", True, "Noise seed must be a whole number"),
])
def test_server_side_caps_refuse_out_of_range_values(client, field, value, message):
    out = search(client, EXAMPLE, **{field: value})
    assert out["status"].startswith("**Cannot run.**") and message in out["status"], out["status"]


def test_request_checks_accept_whole_floats_and_refuse_a_missing_image():
    upload = {"path": "/tmp/x.png", "orig_name": "face.png"}
    request = parse_request(Limits(), upload, 4.0, 300.0, 0, 0.4, "auto", 0)
    assert (request.search.num_candidates, request.search.num_steps, request.image_name) == (4, 300, "face.png")
    with pytest.raises(BadRequest, match="Upload a face image first"):
        parse_request(Limits(), None, 4, 300, 0, 0.4, "auto", 0)


def test_several_clients_at_once_get_their_own_results(app, pipe):
    seeds = [11, 12, 13]
    with ThreadPoolExecutor(len(seeds)) as pool:
        results = list(pool.map(lambda s: search(Client(app.local_url, verbose=False), EXAMPLE, steps=5, seed=s),
                                seeds))
    lr = make_lr_input(str(EXAMPLE), "auto", pipe.degradation)
    for seed, out in zip(seeds, results):
        direct = pipe(lr.lr, num_candidates=2, num_steps=5, seed=seed)
        assert f"seed {seed}" in out["status"]
        # the same images as a direct call, up to float rounding (concurrent searches share the CPU threads,
        # so oneDNN may sum in another order); another seed would differ by tens of levels per pixel
        for served, expected in zip(out["downloads"][1:], direct.hr_candidates, strict=True):
            diff = np.abs(np.asarray(pixels(served), np.float32) - np.asarray(expected, np.float32))
            assert diff.mean() < 0.5


def test_repeated_requests_leave_no_files_or_threads_behind(client):
    def ours():
        return set(Path(tempfile.gettempdir()).glob("srnam-demo-*"))

    search(client, EXAMPLE, candidates=1, steps=1)  # warm: the server's worker threads exist from here on
    files, threads = ours(), threading.active_count()
    for seed in range(3):
        search(client, EXAMPLE, candidates=1, steps=2, seed=seed)
    assert ours() == files and threading.active_count() <= threads + 1


def test_page_notice_is_empty_by_default(client):
    assert client.predict(api_name="/notice") == {"visible": False, "value": "", "__type__": "update"}


def test_share_link_when_the_tunnel_works(pipe, monkeypatch):
    monkeypatch.setattr(gradio.networking, "setup_tunnel", lambda **kwargs: "https://abc123.gradio.live")
    demo, share_url = serve(pipe, share=True)
    try:
        assert share_url == "https://abc123.gradio.live"
        assert Client(demo.local_url, verbose=False).predict(api_name="/notice")["visible"] is False
    finally:
        demo.close()


def test_share_failure_says_only_the_local_url_works_and_keeps_serving(pipe, monkeypatch, capsys):
    def no_tunnel(**kwargs):
        raise RuntimeError("Could not get share link from Gradio API Server.")

    monkeypatch.setattr(gradio.networking, "setup_tunnel", no_tunnel)
    demo, share_url = serve(pipe, share=True)
    try:
        assert share_url is None
        assert f"only the local URL works: {demo.local_url}" in capsys.readouterr().out
        client = Client(demo.local_url, verbose=False)
        notice = client.predict(api_name="/notice")
        assert notice["visible"] and "Only the local URL works" in notice["value"]
        assert search(client, EXAMPLE, candidates=1, steps=1)["status"].startswith("1 candidates")
    finally:
        demo.close()


def _app_env(**extra):
    # "Offline": every outside HTTP request goes to a proxy that refuses connections; localhost is direct.
    env = dict(os.environ, HF_HUB_OFFLINE="1", HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    env.pop("SRNAM_MODEL", None)
    return {**env, **extra}


@contextlib.contextmanager
def running_app(tmp_path, *args: str, until: str):
    """``python app.py ARGS`` on a free port, offline; yields its console output up to the first line containing
    ``until``, a client and the port. The app is stopped afterwards, whatever happened."""
    port = reserve_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *args, "--port", str(port)], env=_app_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines = []
    try:
        for line in process.stdout:  # ends when the process does: a crash fails below instead of hanging
            lines.append(line)
            if until in line:
                break
        log = "".join(lines)
        assert f"Running on local URL:  http://127.0.0.1:{port}" in log, log
        yield log, Client(f"http://127.0.0.1:{port}/", verbose=False), port
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()


def test_app_py_serves_a_model_folder_and_survives_an_offline_share(tmp_path, pipe):
    folder = SRNAMPipeline(pipe.generator, pipe.degradation, device="cpu").save_pretrained(tmp_path / "tiny")
    with running_app(tmp_path, "--model", str(folder), "--share", until="only the local URL works") as \
            (log, client, port):
        assert f"No public link: only the local URL works: http://127.0.0.1:{port}" in log, log
        assert client.predict(api_name="/notice")["visible"]
        assert search(client, EXAMPLE, candidates=1, steps=1)["status"].startswith("1 candidates")


def test_python_app_py_serves_the_shipped_models_offline(tmp_path):
    """The README's main command: no arguments, no network, the trained checkpoints/default."""
    with running_app(tmp_path, until="Running on local URL") as (log, client, _):
        assert f"model: {ROOT / 'checkpoints' / 'default'}" in log, log
        assert search(client, EXAMPLE, candidates=2, steps=3)["status"].startswith("2 candidates")


def test_app_py_without_a_model_exits_with_a_hint(tmp_path):
    # A copy of app.py in a folder without checkpoints/: a copy that lost the shipped models.
    (tmp_path / "app.py").write_text((ROOT / "app.py").read_text())
    result = subprocess.run([sys.executable, str(tmp_path / "app.py")], env=_app_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "checkpoints/default does not exist" in result.stderr
    assert "--model" in result.stderr and "SRNAM_MODEL" in result.stderr


def test_app_py_with_a_bad_model_exits_with_the_reason(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--model", str(tmp_path)], env=_app_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "is not an SR-NAM pipeline: it has no generator/ folder" in result.stderr


def test_app_py_on_a_taken_port_says_so_in_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--port", str(port)], env=_app_env(),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use): pass another port with --port, "
        f"or stop what uses it"]
    assert "GRADIO_SERVER_PORT" not in result.stderr + result.stdout


@pytest.mark.parametrize("config, message", [
    ({"latent_size": 10**12, "channels": [16, 16, 8, 8, 4]}, "latent_size must be in [1, 4096], got 1000000000000"),
    ({"latent_size": 32, "channels": [16, -1, 8, 8, 4]}, "channels[1] must be in [1, 4096], got -1"),
])
def test_app_py_with_a_hostile_model_config_exits_2(tmp_path, pipe, config, message):
    import json

    folder = SRNAMPipeline(pipe.generator, pipe.degradation, device="cpu").save_pretrained(tmp_path / "hostile")
    (folder / "generator" / "config.json").write_text(json.dumps(config))
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--model", str(folder)], env=_app_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
