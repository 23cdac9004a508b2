import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from srnam.commands import main


def test_quickstart_runs_the_shipped_models_end_to_end(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), "-k", "3", "-n", "4"]) == 0
    printed = capsys.readouterr().out
    assert "the shipped checkpoints/default" in printed and "face found in" in printed
    assert "3 candidates × 4 steps" in printed and "bicubic upsampling" in printed
    scores = printed.split("best LR consistency first: ")[1].split(";")[0].split()
    assert len(scores) == 3 and all(10 < float(v) < 40 for v in scores)  # dB against the ground truth
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (4 + 4 * 132, 16 + 3 * 132 + 4)  # reference + 3 candidate columns, 3 rows


def test_quickstart_reports_a_missing_image_or_model_in_one_line(tmp_path, capsys, monkeypatch):
    from srnam.commands import common

    assert main(["quickstart", "--image", str(tmp_path / "missing.jpg"), "--out", str(tmp_path)]) == 2
    printed = capsys.readouterr()
    assert printed.err == f"srnam quickstart: error: {tmp_path / 'missing.jpg'}: no such file\n" and printed.out == ""
    monkeypatch.setattr(common, "DEFAULT_CHECKPOINT", tmp_path / "checkpoints" / "default")  # a clone without it
    assert main(["quickstart", "--out", str(tmp_path)]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("srnam quickstart: error: no --model given and the default checkpoint")
    assert len(printed.err.splitlines()) == 1 and "Traceback" not in printed.err


def test_help_and_no_command(capsys):
    assert main([]) == 2
    assert "quickstart" in capsys.readouterr().out
    result = subprocess.run([sys.executable, "-m", "srnam", "quickstart", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "example:" in result.stdout


def test_the_readme_shows_what_quickstart_prints(tmp_path, capsys, monkeypatch):
    """Line by line, and number by number (the time aside): the README's example output is the command's, with
    today's shipped models (it had drifted twice). What comes before the first update (step 1, bicubic) is pinned
    to its last digit; after it, 300 Adam steps amplify the last bits of the CPU's arithmetic (an Intel Xeon and
    an AMD EPYC differ), so those lines are compared as sets of values within a band."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("Expect output like")[1].split("```")[1].strip().splitlines()
    monkeypatch.chdir(tmp_path)
    assert main(["quickstart"]) == 0  # the README's command, as it is
    printed = capsys.readouterr().out.strip().splitlines()
    number = r"\d+(?:\.\d+)?"

    def shape(line: str) -> str:
        return re.sub(number, "N", line)
    assert [shape(line) for line in block] == [shape(line) for line in printed]
    for shown, got in zip(block, printed):
        searched = re.search(r"step +[1-9]\d+/| steps in |HR PSNR", got)  # values after the first update
        if not searched:
            _assert_pinned(shown, got)
            continue
        if "bicubic" in got:  # bicubic's figure is not searched: pinned
            _assert_pinned(shown.split("bicubic")[1], got.split("bicubic")[1])
        tolerance = 1.0 if "HR PSNR" in got else 0.015  # dB; LR L1
        values = [sorted(float(v) for v in line.split(":")[-1].split(";")[0].split()) for line in (shown, got)]
        assert all(abs(x - y) <= tolerance for x, y in zip(*values)), (shown, got)


def _assert_pinned(shown: str, got: str) -> None:
    """Every number of ``shown`` is ``got``'s, to the last printed digit (which may differ with the CPU's
    summation order, not more)."""
    import math

    number = r"\d+(?:\.\d+)?"
    for a, b in zip(re.findall(number, shown), re.findall(number, got)):
        assert math.isclose(float(a), float(b), abs_tol=2 * 10 ** -len(a.partition(".")[2])), (shown, got)


def test_the_readme_states_the_suites_test_count():
    """The README's "N tests" is what pytest collects (the CUDA-only ones included, as the README says)."""
    root = Path(__file__).resolve().parents[1]
    stated = re.search(r"on tiny seeded models \([^)]*\): (\d+) tests", (root / "README.md").read_text())
    assert stated, "the README's Tests section no longer states a count"
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             str(root / "tests")], capture_output=True, text=True, cwd=root)
    collected = re.search(r"^(\d+) tests? collected", result.stdout, re.MULTILINE)
    assert collected, result.stdout[-2000:] + result.stderr[-2000:]
    assert int(stated.group(1)) == int(collected.group(1)), "update the README's test count"
