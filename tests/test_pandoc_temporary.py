"""The long-lived pandoc writer leaves nothing in the temporary directory, whether it
is closed, killed by a timeout or ended with its process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.archives import write_seeds

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


def test_the_workers_of_an_archive_run_leave_no_folder_in_tmpdir(tmp_path):
    """A pool worker leaves by os._exit, without atexit's handlers: its writer is closed by
    a multiprocessing finalizer instead (runners/pool.py). Before, every worker of every
    scheduled run left an empty seedpress-pandoc-* folder in /tmp."""
    seeds, temporary = tmp_path / "seeds", tmp_path / "tmp"
    temporary.mkdir()
    write_seeds(seeds, 3)
    environment = {**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "convert.cli", "archive", str(seeds), "--dist", str(tmp_path / "dist"),
                           "--jobs", "2"], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "dist" / "article-2" / "article-2.docx").is_file()
    assert leftovers(temporary) == []
