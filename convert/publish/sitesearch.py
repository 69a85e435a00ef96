"""Search without a server: a Pagefind bundle over the landing pages (issue 13).

When dist/ is copied to any static host (nginx, S3), the index page's search box
still works: search.js loads dist/pagefind/, the static index Pagefind builds from
every dist/<key>/index.html, and lists the titles that match. `seedpress serve`
answers the same form at /search from the catalog instead, and so does any browser
that runs no script.

Pagefind cannot add one page to an existing bundle, so the archive job indexes every
landing page again whenever the published landing pages differ from those the bundle
was made from (bench/handout.py gives the cost at 10,000 seeds). It indexes into a new
folder, fsynced, that replaces the old one whole: a reader never sees half a bundle,
and a failed index keeps the last good one, to be tried again by the next run. On Linux
the two folders are swapped in one step (renameat2 RENAME_EXCHANGE), so that there is no
moment without a bundle either; elsewhere, two renames leave one.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from convert.defaults import PAGEFIND_TIME_LIMIT
from convert.errors import SeedpressError
from convert.files import fsync_directory, fsync_tree, read_regular, write_atomic

# The names in dist come from convert/layout.py: the bundle's folder, which search.js
# loads pagefind/pagefind.js from; the file Pagefind writes last (a bundle that has it is
# whole); the pages Pagefind indexes, the landing pages and nothing else (not the index
# pages, whose every title would then match twice); and the record of what the bundle
# in dist was made from (a digest of the landing pages' paths and sha256s, written once
# the bundle is in place).
from convert.layout import BUNDLE_ENTRY, BUNDLE_NAME, LANDING_GLOB
from convert.layout import BUNDLE_NEW_NAME as _NEW
from convert.layout import BUNDLE_OLD_NAME as _OLD
from convert.layout import BUNDLE_SOURCE_NAME as SOURCE_NAME


def pagefind_executable() -> Path | None:
    """The Pagefind binary the `pagefind` package finds (its extended build, which also
    splits Chinese and Japanese into words); None where its wheel has no binary."""
    try:
        from pagefind.service import get_executable
    except ImportError:
        return None
    return get_executable()


def signal_name(number: int) -> str:
    """A signal as a user reads it: "SIGXFSZ (file size limit exceeded)"."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    described = signal.strsignal(number)
    return f"{name} ({described[0].lower() + described[1:]})" if described else name


def landing_digest(landing_pages: Iterable[tuple[str, str]]) -> str:
    """A digest of the landing pages as (path under dist, sha256) pairs, in any order."""
    return hashlib.sha256("".join(f"{path}\0{sha256}\n" for path, sha256 in sorted(landing_pages))
                          .encode()).hexdigest()


def bundle_is_current(dist: Path, digest: str) -> bool:
    """True when dist holds a whole bundle made from the landing pages `digest` describes."""
    try:
        made_from = read_regular(dist / SOURCE_NAME).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return made_from == digest and (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()


def refresh_bundle(dist: Path, landing_pages: Iterable[tuple[str, str]]) -> bool:
    """Make dist/pagefind/ index exactly `landing_pages` ((path, sha256) of each published
    landing page) unless it already does; say whether it was made again. With no landing
    page there is no bundle. A SeedpressError with one line says why the index could not
    be made; the bundle that was there stays, and the next call tries again."""
    dist = Path(dist).absolute()  # Pagefind runs in dist, so a relative path would name dist/dist
    landing_pages = list(landing_pages)
    digest = landing_digest(landing_pages)
    if bundle_is_current(dist, digest) or (not landing_pages and not (dist / BUNDLE_NAME).exists()):
        return False
    try:
        for leftover in (dist / _NEW, dist / _OLD):
            shutil.rmtree(leftover, ignore_errors=True)
        if landing_pages:
            _index(dist)
        (dist / SOURCE_NAME).unlink(missing_ok=True)
        if landing_pages and (dist / BUNDLE_NAME).is_dir() and exchange(dist / _NEW, dist / BUNDLE_NAME):
            # The new bundle took the old one's place in one step; the old one is now _NEW.
            (dist / _NEW).rename(dist / _OLD)
            write_atomic(dist / SOURCE_NAME, f"{digest}\n".encode("ascii"))
        else:
            if (dist / BUNDLE_NAME).exists():
                (dist / BUNDLE_NAME).rename(dist / _OLD)
            if landing_pages:
                (dist / _NEW).rename(dist / BUNDLE_NAME)
                write_atomic(dist / SOURCE_NAME, f"{digest}\n".encode("ascii"))
            else:
                fsync_directory(dist)
        shutil.rmtree(dist / _OLD, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(dist / _NEW, ignore_errors=True)
        raise SeedpressError(f"pagefind: {error.filename or dist}: {error.strerror or error}; "
                             "the search bundle will be made again by the next run") from None
    return True


#: renameat2(2)'s flag that swaps two paths, and the "current directory" descriptor.
_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 with RENAME_EXCHANGE), so that neither is
    ever absent; False, nothing done, where the system or its file system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    number = ctypes.get_errno()
    if number in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(number, os.strerror(number), str(first))


def _index(dist: Path) -> None:
    """Run Pagefind over dist's landing pages into dist/.pagefind-new, and fsync it."""
    executable = pagefind_executable()
    if executable is None:
        raise SeedpressError("pagefind has no binary for this platform: the index page's search works "
                             "only with seedpress serve")
    # --keep-index-url: results link key/index.html, which every static host serves (not
    # all of them serve a folder URL).
    command = [str(executable), "--site", str(dist), "--glob", LANDING_GLOB, "--keep-index-url",
               "--output-path", str(dist / _NEW), "--silent"]
    try:
        result = subprocess.run(command, cwd=dist, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, errors="replace", timeout=PAGEFIND_TIME_LIMIT,
                                env={**os.environ, "RUST_BACKTRACE": "0"})
    except subprocess.TimeoutExpired:
        shutil.rmtree(dist / _NEW, ignore_errors=True)
        raise SeedpressError(f"pagefind: indexing the landing pages took over {PAGEFIND_TIME_LIMIT} s; "
                             "the previous search bundle stays") from None
    if result.returncode != 0 or not (dist / _NEW / BUNDLE_ENTRY).is_file():
        shutil.rmtree(dist / _NEW, ignore_errors=True)
        said = [line.strip() for line in (result.stderr or result.stdout).splitlines()
                if line.strip() and not line.startswith(("note:", "stack backtrace"))]
        if result.returncode < 0:
            raise SeedpressError(f"pagefind was killed by {signal_name(-result.returncode)}; "
                                 "the previous search bundle stays")
        raise SeedpressError(f"pagefind failed (exit {result.returncode}): "
                             f"{said[-1][:300] if said else 'no message'}; the previous search bundle stays")
    fsync_tree(dist / _NEW)
