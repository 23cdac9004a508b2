import subprocess
import sys

from PIL import Image

from srnam.cli import main


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), "-k", "3", "-n", "4"]) == 0
    printed = capsys.readouterr().out
    assert "3 candidates × 4 steps" in printed and "untrained" in printed
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (4 + 4 * 132, 16 + 3 * 132 + 4)  # reference + 3 candidate columns, 3 rows
    assert (tmp_path / "pipeline" / "generator" / "model.safetensors").is_file()


def test_help_and_no_command(capsys):
    assert main([]) == 2
    assert "quickstart" in capsys.readouterr().out
    result = subprocess.run([sys.executable, "-m", "srnam", "quickstart", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "example:" in result.stdout
