"""The server the archive's workers fork from, and when to start it early.

multiprocessing's forkserver, preloading runners/warm.py, is what every pool of
runners/pool.py forks its workers from. Its warm-up (importing WeasyPrint,
rendering a title) takes half a second of the other core, so `seedpress archive`
starts it before it reads its configuration, imports its stages and plans, when
the run will likely build something. This module imports nothing heavy for that
reason (not even multiprocessing until a server is started): the command line
imports it first.
"""

from __future__ import annotations

import os
from pathlib import Path

from convert import defaults
from convert.layout import CATALOG_NAME

#: The module the forkserver imports before it forks a worker.
WARM_MODULE = "convert.runners.warm"


def worker_context():
    """The forkserver context the pools fork workers from, preloading runners/warm.py."""
    from multiprocessing import get_context  # 11 ms: only when there are workers to start

    context = get_context("forkserver")
    context.set_forkserver_preload([WARM_MODULE])
    _socket_folder_that_fits()
    return context


#: The longest path of a Unix socket (sun_path less its closing NUL), and what
#: multiprocessing puts after TMPDIR for the server's: /pymp-XXXXXXXX/listener-XXXXXXXX.
MAX_SOCKET_PATH = 107
SOCKET_NAME_LENGTH = 32


def _socket_folder_that_fits() -> None:
    """Make multiprocessing's folder, where the server's socket goes, under /tmp when the
    socket's path under TMPDIR would be too long for a Unix socket: with a long TMPDIR
    every archive run on workers stopped with "OSError: AF_UNIX path too long". The folder
    is made once a process (and removed at its exit), so this holds for the run."""
    import tempfile
    from multiprocessing import util

    if len(os.fsencode(tempfile.gettempdir())) + SOCKET_NAME_LENGTH <= MAX_SOCKET_PATH:
        return
    saved = tempfile.tempdir
    tempfile.tempdir = "/tmp"
    try:
        util.get_temp_dir()
    except OSError:
        pass  # no /tmp to write either: the server's start says what is wrong
    finally:
        tempfile.tempdir = saved


def start_workers_early() -> None:
    """Start the server the workers fork from now, while the run plans; the first pool
    then forks at once. For a run that will build something: one that builds nothing
    leaves the server unused. The server is told where to look for the plan's word
    that the run builds few seeds (few_seeds_to_build)."""
    global _few_seeds_file
    from multiprocessing import forkserver

    worker_context()
    if _few_seeds_file is None:
        _few_seeds_file = os.path.join(os.environ.get("TMPDIR") or "/tmp",
                                       f"seedpress-few-seeds-{os.urandom(12).hex()}")
    os.environ[FEW_SEEDS_VARIABLE] = _few_seeds_file
    try:
        forkserver.ensure_running()
    finally:
        del os.environ[FEW_SEEDS_VARIABLE]


#: Set in the environment the server starts with: the file whose presence tells its warm-up
#: that the run builds no more seeds than it has workers (runners/warm.py).
FEW_SEEDS_VARIABLE = "SEEDPRESS_FEW_SEEDS_FILE"
#: That file, once this process started a server early.
_few_seeds_file: str | None = None


def few_seeds_to_build() -> None:
    """Tell the server started early that the run builds no more seeds than it has workers,
    each worker one: its warm-up then renders no warm title, which would spare a worker's
    second seed 0.2 s but makes the first wait 0.1 s longer (one new seed among a thousand
    titles: 2.29 -> 2.14 s, medians of eight). Heard only if the plan comes before the warm-up reaches the
    title, as it does with half a second to spare; otherwise the title is rendered."""
    if _few_seeds_file is None:
        return
    try:
        os.close(os.open(_few_seeds_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except OSError:
        pass  # heard already, or the folder cannot take it: the title is rendered


def stop_unused_server() -> None:
    """When the plan builds nothing: stop the server started early at once. It would exit by
    itself once the run is gone, but only after its warm-up, a second of the other core
    spent for nothing while the run withdraws and hands out, and after it ends."""
    import sys

    forkserver = sys.modules.get("multiprocessing.forkserver")
    if _few_seeds_file is None or forkserver is None:
        return  # no server started early by this process
    from convert.process import kill  # not at the top: the command line imports this module first

    server = forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    kill(pid)
    server._stop()  # waits for it (killed: at once) and removes its socket


def forget_few_seeds() -> None:
    """At the end of a run: remove the file of few_seeds_to_build if the server never read it."""
    if _few_seeds_file is not None:
        try:
            os.unlink(_few_seeds_file)
        except OSError:
            pass


def folder_changed_since_last_run(seeds_dir: Path, dist: Path) -> bool:
    """True when the seeds folder changed (a seed added, removed or saved by renaming, as
    editors do) after the catalog last did, or there is no catalog yet: a hint that
    the run will build something, known before the catalog is opened."""
    try:
        catalog = (dist / CATALOG_NAME).stat().st_mtime_ns
    except OSError:
        return True
    try:
        return seeds_dir.stat().st_mtime_ns >= catalog
    except OSError:
        return False


def will_likely_build(seeds_dir: Path, dist: Path) -> bool:
    """The hint: the folder holds a seed or a master and changed since the last run."""
    if not folder_changed_since_last_run(seeds_dir, dist):
        return False
    try:
        with os.scandir(seeds_dir) as entries:
            return any(defaults.is_input_name(entry.name) for entry in entries)
    except OSError:
        return False
