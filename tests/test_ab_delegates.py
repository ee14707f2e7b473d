"""benchmarks/ab_delegates.py refuses what would make its before/after figures meaningless."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import ab_delegates


def test_same_library_twice_is_refused(tmp_path, capsys):
    lib = tmp_path / "libkbnn_delegate.so"
    lib.write_bytes(b"\x7fELF")
    with pytest.raises(SystemExit) as e:
        ab_delegates.main([str(lib), str(tmp_path / "." / lib.name)])
    assert e.value.code == 2
    assert "same file" in capsys.readouterr().err


def test_missing_library_is_named(tmp_path, capsys):
    lib = tmp_path / "libkbnn_delegate.so"
    lib.write_bytes(b"\x7fELF")
    with pytest.raises(SystemExit) as e:
        ab_delegates.main([str(lib), str(tmp_path / "nowhere.so")])
    assert e.value.code == 2
    assert "nowhere.so" in capsys.readouterr().err
