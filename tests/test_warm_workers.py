"""The server the archive's workers fork from (runners/warm.py, runners/pool.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.run import ROOT

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


def test_the_early_start_knows_a_seed_by_the_builds_own_suffixes():
    """runners/server.py reads the seeds folder before the build is imported: its suffixes
    are the build's."""
    from convert.build.input import MASTER_SUFFIXES, SEED_SUFFIXES
    from convert.runners.server import INPUT_SUFFIXES

    assert INPUT_SUFFIXES == SEED_SUFFIXES + MASTER_SUFFIXES


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
