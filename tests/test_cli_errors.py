"""The training and evaluation commands as a user runs them (subprocesses): a wrong file is one
line naming it and what to do, exit 2, never a traceback (issue 17, item 6)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def _one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_evaluate_given_a_text_file_as_model(tmp_path):
    notes = tmp_path / "notes.pt"
    notes.write_text("hello, these are my notes\n")  # the pickle reader fails on it with a KeyError
    result = _run("evaluation.held_out", "--model", notes)
    line = _one_line_error(result, 2)
    assert str(notes) in line and "not a readable checkpoint" in line


def test_train_with_out_dir_naming_a_file(tmp_path):
    existing = tmp_path / "existing_file"
    existing.write_text("keep me\n")
    for out_dir in (existing, existing / "run"):
        result = _run("models.train", "--out-dir", out_dir, "--steps", "1")
        line = _one_line_error(result, 2)
        assert f"{existing} is a file, not a folder" in line and "--out-dir" in line
    assert existing.read_text() == "keep me\n"
