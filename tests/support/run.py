"""Running seedpress as a user would: the checkout's paths, the command, its environment,
polling for an event, reading its JSON lines and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from convert.defaults import JOBS_VARIABLE
from support.warm_start import FRESH_VARIABLE, WarmStart

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
REAL_SEED = ROOT / "seeds" / "000_52d55abe645743f0.txt"
#: How long any one seedpress command may take in a test: generous, so that a loaded
#: 2-core machine passes as surely as a quiet one; it only bounds a hang.
COMMAND_TIMEOUT = 900
#: The date every edition in the session carries (SOURCE_DATE_EPOCH), so builds are comparable.
BUILD_EPOCH = 1_700_000_000


def seedpress_command(*arguments: str | Path) -> list[str]:
    return [sys.executable, "-m", "convert.cli", *map(str, arguments)]


#: Worker processes of a command that names no --jobs: none, the seeds are built in the
#: command's own process (runners.pool.run_in_process), which saves a spawned worker and
#: its imports per command. Tests of the pool (its memory limit, its crashes, its kills,
#: its warm-up) say --jobs; a test of the default (one per core) unsets this.
TEST_JOBS = "0"


def seedpress_environment(env: dict[str, str | None] | None = None) -> dict[str, str]:
    """This environment with seedpress from this checkout, one worker unless the command or
    `env` says otherwise (TEST_JOBS), plus `env` (a None value unsets)."""
    merged = {JOBS_VARIABLE: TEST_JOBS, **os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return {name: value for name, value in merged.items() if value is not None}


_warm_start: WarmStart | None = None
_warm_start_wanted = False


def use_warm_start() -> None:
    """From now on, this process's `seedpress` commands fork from a warm server (started
    at the first command); stop it with stop_warm_start. See tests/support/warm_start.py."""
    global _warm_start_wanted
    _warm_start_wanted = os.environ.get(FRESH_VARIABLE) != "1"


def stop_warm_start() -> None:
    global _warm_start, _warm_start_wanted
    _warm_start_wanted = False
    if _warm_start is not None:
        _warm_start.stop()
        _warm_start = None


def seedpress(*arguments: str | Path, env: dict[str, str | None] | None = None, cwd: Path | None = None,
              timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """Run `python -m convert.cli ARGUMENTS` as a user would; text output captured. In the
    tests, a process forked from a warm server (use_warm_start) when it can be."""
    global _warm_start
    command, environment, cwd = seedpress_command(*arguments), seedpress_environment(env), cwd or ROOT
    # Started from the main thread only: the server dies with the thread that started it.
    if _warm_start is None and _warm_start_wanted and threading.current_thread() is threading.main_thread():
        _warm_start = WarmStart(ROOT, seedpress_environment())
    if _warm_start is not None:
        done = _warm_start.run(command, [str(argument) for argument in arguments], env=environment, cwd=cwd,
                               timeout=timeout)
        if done is not None:
            return done
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment)



def wait_for(condition, what: str, timeout: float = COMMAND_TIMEOUT, interval: float = 0.02):
    """Poll `condition()` until it returns something true, and return that; fail naming
    `what` after `timeout` seconds. The interval is how often to look, not a guess of how
    long anything takes."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)



def json_lines(stdout: str) -> list[dict]:
    """Every stdout line parsed as one JSON object (fails on any line that is not)."""
    return [json.loads(line) for line in stdout.splitlines()]


def assert_one_line_error(stderr: str, name: str) -> str:
    """The stderr line that names `name`; it is one line and no traceback came with it."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if name in line]
    assert len(lines) == 1, f"expected one error line naming {name!r}, got:\n{stderr}"
    return lines[0]
