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

#: What a seeds folder's seeds and masters end with: read here without importing the build.
INPUT_SUFFIXES = defaults.SEED_SUFFIXES + defaults.MASTER_SUFFIXES


def worker_context():
    """The forkserver context the pools fork workers from, preloading runners/warm.py."""
    from multiprocessing import get_context  # 11 ms: only when there are workers to start

    context = get_context("forkserver")
    context.set_forkserver_preload([WARM_MODULE])
    return context


def start_workers_early() -> None:
    """Start the server the workers fork from now, while the run plans; the first pool
    then forks at once. For a run that will build something: one that builds nothing
    leaves the server unused."""
    from multiprocessing import forkserver

    worker_context()
    forkserver.ensure_running()


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
            return any(entry.name.endswith(INPUT_SUFFIXES) for entry in entries)
    except OSError:
        return False
