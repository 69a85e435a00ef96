"""The long-lived pandoc writer leaves nothing in the temporary directory, whether it
is closed, killed by a timeout or ended with its process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from convert.pandoc import PandocWriter


def leftovers(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_a_closed_writer_leaves_no_file_in_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    writer = PandocWriter()
    assert b'"pandoc-api-version"' in writer.read("markdown", "hello")
    assert leftovers(tmp_path), "the writer's own directory exists while it runs"
    writer.close()
    assert leftovers(tmp_path) == []


def test_a_writer_killed_mid_request_leaves_no_file_in_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    writer = PandocWriter()
    writer.read("markdown", "warm")
    process = writer.process
    process.kill()  # as a time limit or the OOM killer would
    process.wait()
    writer.close()
    assert leftovers(tmp_path) == []


def test_writers_of_a_whole_process_leave_nothing_behind(tmp_path):
    """A process that reads masters and ends (as a worker does) cleans up at exit."""
    script = (
        "from convert.pandoc import read_markdown_body\n"
        "for n in range(3):\n"
        "    read_markdown_body(f'paragraph {n}')\n"
    )
    environment = {**os.environ, "TMPDIR": str(tmp_path),
                   "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", script], env=environment, check=True, timeout=120)
    assert leftovers(tmp_path) == []
