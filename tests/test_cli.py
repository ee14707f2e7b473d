import subprocess
import sys

from kbnn import cli


def test_cli_rejects_bad_epochs(capsys):
    assert cli.main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_cli_summary_missing_file(capsys, tmp_path):
    assert cli.main(["summary", str(tmp_path / "nope.keras")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_summary_not_a_model(capsys, tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    assert cli.main(["summary", str(bad)]) == 2
    assert "could not load" in capsys.readouterr().err


def test_cli_requires_a_command():
    proc = subprocess.run([sys.executable, "-m", "kbnn"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "demo" in proc.stderr
