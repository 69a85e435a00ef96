"""The server the archive's workers fork from (runners/warm.py, runners/pool.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.archives import write_seeds
from support.run import ROOT, seedpress

PROBE = """
import json, os, sys, threading
import convert.runners.warm as warm
from convert.document import language
from convert.editions import cover
from convert import pandoc
from convert.pandoc import pandoc_path
from pathlib import Path
children = [c for t in Path("/proc/self/task").iterdir() for c in (t / "children").read_text().split()]
with open(sys.argv[1], "w") as report:
    json.dump({"threads": threading.active_count(), "pid": warm.SERVER_PID == os.getpid(),
               "weasyprint": "weasyprint" in sys.modules, "model": language._detector.cache_info().currsize,
               "cover_fonts": cover._font_for_in.cache_info().currsize > 0,
               "pandoc": pandoc_path.cache_info().currsize, "pandoc_writers": len(pandoc._writers),
               "children": children, "gates": ["docx" in sys.modules, "pikepdf" in sys.modules],
               "stdout": os.readlink("/proc/self/fd/1"), "stderr": os.readlink("/proc/self/fd/2")}, report)
"""


def test_the_workers_server_is_warm_single_threaded_and_quiet(tmp_path):
    """A fork copies one thread: the preload must start none. It loads what every seed
    needs (a title rendered but for its pandoc editions, and the gates' libraries), and
    lets go of the run's output, so no reader of it waits for the server. It starts no
    pandoc: every worker forked after would share its pipes."""
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-c", PROBE, str(report)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    facts = json.loads(report.read_text())
    assert facts == {"threads": 1, "pid": True, "weasyprint": True, "model": 1, "cover_fonts": True,
                     "pandoc": 1, "pandoc_writers": 0, "children": [], "gates": [True, True],
                     "stdout": "/dev/null", "stderr": "/dev/null"}


@pytest.mark.parametrize(("name", "an_input"), [("a.txt", True), ("B.TXT", True), ("c.md", True),
                                                ("d.Markdown", True), ("e.txt.pdf", False), ("f.docx", False)])
def test_the_early_start_knows_a_seed_as_the_archive_does(tmp_path, name, an_input):
    """runners/server.py reads the seeds folder before the build is imported: what it takes
    for a seed or a master is what the archive run builds, in any case."""
    from convert.archive.job import find_seeds
    from convert.runners.server import will_likely_build

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / name).write_text("A title\n\nA summary.\n", "utf-8")
    assert will_likely_build(seeds, tmp_path / "dist") is an_input
    assert [seed.path.name for seed in find_seeds(seeds)] == ([name] if an_input else [])


def test_the_early_start_waits_for_a_seed_that_changed(tmp_path):
    """No server for an empty folder, one with only other files, or an unchanged rerun."""
    from convert.layout import CATALOG_NAME
    from convert.runners.server import will_likely_build

    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    seeds.mkdir()
    assert not will_likely_build(seeds, dist)
    (seeds / "notes.odt").write_bytes(b"")
    assert not will_likely_build(seeds, dist)
    (seeds / "a.txt").write_text("Title\n\nSummary.\n")
    assert will_likely_build(seeds, dist)
    dist.mkdir()
    (dist / CATALOG_NAME).write_bytes(b"")
    os.utime(seeds, ns=(1, 1))
    assert not will_likely_build(seeds, dist)
    assert not will_likely_build(tmp_path / "missing", dist)


FEW_SEEDS_PROBE = """
import json, os, sys
import convert.runners.warm as warm
from convert.runners.server import FEW_SEEDS_VARIABLE
print(json.dumps({"done": warm.DONE, "word_left": os.path.exists(sys.argv[1]),
                  "in_environment": FEW_SEEDS_VARIABLE in os.environ}), file=open(sys.argv[2], "w"))
"""


@pytest.mark.parametrize("few", [True, False], ids=["one seed a worker", "more seeds"])
def test_the_warm_title_is_left_to_the_first_seed_when_each_worker_builds_one(tmp_path, few):
    """The plan's word (server.few_seeds_to_build: a file the server is told of) makes the
    server render no warm title, which would make the only seed of each worker wait; the
    word is taken, and the workers and pandoc do not inherit where to look for it."""
    from convert.runners.server import FEW_SEEDS_VARIABLE

    word, report = tmp_path / "few-seeds", tmp_path / "report.json"
    if few:
        word.touch()
    result = subprocess.run([sys.executable, "-c", FEW_SEEDS_PROBE, str(word), str(report)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), FEW_SEEDS_VARIABLE: str(word)})
    assert result.returncode == 0, result.stderr
    facts = json.loads(report.read_text())
    steps = ["weasyprint", "language model", "pandoc", "docx"] if few else \
        ["weasyprint", "language model", "pandoc", "warm title", "docx"]
    assert facts == {"done": steps, "word_left": False, "in_environment": False}


@pytest.mark.slow
@pytest.mark.parametrize(("seeds", "jobs"), [(1, 2), (3, 1)])
def test_a_run_leaves_no_word_for_the_server_behind(tmp_path, seeds, jobs):
    """Whether the server heard the word or was past its warm title already, the run
    leaves no file in the temporary folder."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    write_seeds(tmp_path / "seeds", seeds)
    result = seedpress("archive", tmp_path / "seeds", "--dist", tmp_path / "dist", "--jobs", str(jobs),
                       env={"TMPDIR": str(temporary)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dist" / "article-0" / "article-0.pdf").is_file()
    assert list(temporary.glob("seedpress-few-seeds-*")) == []


def _processes_with(marker: str) -> list[str]:
    """The command lines of the live processes whose environment holds `marker`."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            if marker.encode() in (process / "environ").read_bytes():
                found.append((process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.slow
def test_a_run_that_builds_nothing_stops_the_server_it_started_early(tmp_path):
    """A seed removed changes the folder, so the run starts the workers' server early; the
    plan then builds nothing, and the server is stopped at once rather than left to warm
    up for a second of the other core after the run has ended."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 2)
    assert seedpress("archive", seeds, "--dist", dist).returncode == 0
    (seeds / "article-1.txt").unlink()
    marker = f"SEEDPRESS_TEST_RUN={os.urandom(8).hex()}"
    name, value = marker.split("=")
    result = seedpress("archive", seeds, "--dist", dist, "--jobs", "1", env={name: value})
    assert result.returncode == 0, result.stderr
    assert "0 built, 1 unchanged, 0 failed, 1 withdrawn" in result.stdout
    assert [command for command in _processes_with(marker) if "forkserver" in command] == []
