"""The server the archive's workers fork from (runners/warm.py, runners/pool.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from support.run import ROOT

PROBE = """
import json, os, sys, threading
import convert.runners.warm as warm
from convert.document import language
from convert.editions import cover
from convert.pandoc import pandoc_path
with open(sys.argv[1], "w") as report:
    json.dump({"threads": threading.active_count(), "pid": warm.SERVER_PID == os.getpid(),
               "weasyprint": "weasyprint" in sys.modules, "model": language._detector.cache_info().currsize,
               "cover_fonts": cover._font_for_in.cache_info().currsize > 0,
               "pandoc": pandoc_path.cache_info().currsize,
               "stdout": os.readlink("/proc/self/fd/1"), "stderr": os.readlink("/proc/self/fd/2")}, report)
"""


def test_the_workers_server_is_warm_single_threaded_and_quiet(tmp_path):
    """A fork copies one thread: the preload must start none. It loads what every seed
    needs, and lets go of the run's output, so no reader of it waits for the server."""
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-c", PROBE, str(report)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    facts = json.loads(report.read_text())
    assert facts == {"threads": 1, "pid": True, "weasyprint": True, "model": 1, "cover_fonts": True,
                     "pandoc": 1, "stdout": "/dev/null", "stderr": "/dev/null"}
