import subprocess
import sys

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
    today's shipped models (it had drifted twice)."""
    import math
    import re
    from pathlib import Path

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
        if " steps in " in got:  # the time varies; the final L1 values after it do not
            shown, got = shown.split(" s;")[1], got.split(" s;")[1]
        for a, b in zip(re.findall(number, shown), re.findall(number, got)):
            # the last printed digit may differ with the CPU's summation order, not more
            assert math.isclose(float(a), float(b), abs_tol=2 * 10 ** -len(a.partition(".")[2])), (shown, got)
