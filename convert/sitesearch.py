"""Search without a server: a Pagefind bundle over the landing pages (issue 13).

When dist/ is copied to any static host (nginx, S3), the index page's search box
still works: search.js loads dist/pagefind/, the static index Pagefind builds from
every dist/<key>/index.html, and lists the titles that match. `seedpress serve`
answers the same form at /search from the catalog instead, and so does any browser
that runs no script.

Pagefind cannot add one page to an existing bundle, so the archive job indexes every
landing page again whenever a run built or withdrew a seed (bench/handout.py gives
the cost at 10,000 seeds), into a new folder that replaces the old one whole: a
reader never sees half a bundle, and a failed index keeps the last good one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import SeedpressError

#: The bundle's folder in dist; search.js loads pagefind/pagefind.js from it.
BUNDLE_NAME = "pagefind"
#: The file Pagefind writes last: a bundle that has it is whole.
BUNDLE_ENTRY = "pagefind-entry.json"
#: The pages Pagefind indexes: the landing pages, nothing else (not the index pages,
#: whose every title would then match twice).
LANDING_GLOB = "*/index.html"
#: Longest an index of the whole archive may take before the run gives up on it.
INDEX_TIME_LIMIT = 600

_NEW = ".pagefind-new"
_OLD = ".pagefind-old"


def pagefind_executable() -> Path | None:
    """The Pagefind binary the `pagefind` package finds (its extended build, which also
    splits Chinese and Japanese into words, when installed); None when there is none."""
    try:
        from pagefind.service import get_executable
    except ImportError:
        return None
    return get_executable()


def bundle_is_whole(dist: Path) -> bool:
    return (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()


def write_bundle(dist: Path, landing_pages: int) -> None:
    """Index the `landing_pages` landing pages of dist into a new dist/pagefind/, swapped
    in whole; with none, remove the bundle (search.js then says nothing is published).
    A SeedpressError with one line says why the index could not be made; the bundle
    that was there stays."""
    dist = Path(dist).absolute()  # Pagefind runs in dist, so a relative path would name dist/dist
    for leftover in (dist / _NEW, dist / _OLD):
        shutil.rmtree(leftover, ignore_errors=True)
    if landing_pages == 0:
        shutil.rmtree(dist / BUNDLE_NAME, ignore_errors=True)
        return
    executable = pagefind_executable()
    if executable is None:
        raise SeedpressError("pagefind is not installed: the index page's search works only with seedpress serve "
                             "(pip install 'pagefind[extended]')")
    # --keep-index-url: results link key/index.html, which every static host serves (not
    # all of them serve a folder URL).
    command = [str(executable), "--site", str(dist), "--glob", LANDING_GLOB, "--keep-index-url",
               "--output-path", str(dist / _NEW), "--silent"]
    try:
        result = subprocess.run(command, cwd=dist, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, errors="replace", timeout=INDEX_TIME_LIMIT,
                                env={**os.environ, "RUST_BACKTRACE": "0"})
    except subprocess.TimeoutExpired:
        shutil.rmtree(dist / _NEW, ignore_errors=True)
        raise SeedpressError(f"pagefind: indexing the landing pages took over {INDEX_TIME_LIMIT} s; "
                             "the previous search bundle stays") from None
    if result.returncode != 0 or not (dist / _NEW / BUNDLE_ENTRY).is_file():
        shutil.rmtree(dist / _NEW, ignore_errors=True)
        said = [line.strip() for line in (result.stderr or result.stdout).splitlines()
                if line.strip() and not line.startswith(("note:", "stack backtrace"))]
        raise SeedpressError(f"pagefind failed (exit {result.returncode}): "
                             f"{said[-1][:300] if said else 'no message'}; the previous search bundle stays")
    if (dist / BUNDLE_NAME).exists():
        (dist / BUNDLE_NAME).rename(dist / _OLD)
    (dist / _NEW).rename(dist / BUNDLE_NAME)
    shutil.rmtree(dist / _OLD, ignore_errors=True)
