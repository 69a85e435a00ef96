"""Search without a server: Pagefind indexes of the landing pages (issues 13 and 23).

When dist/ is copied to any static host (nginx, S3), the index page's search box
still works: search.js loads dist/pagefind/ and the indexes it lists, and lists the
titles that match. `seedpress serve` answers the same form at /search from the catalog
instead, and so does any browser that runs no script.

Pagefind cannot add one page to an existing index, so the indexes are cut as the
hand-out's pages are (paging.py): every full page of 100 titles has an index of its own,
dist/pagefind.pages/<digest>/, named by the landing pages it holds and made once, when
the page fills; the open page (the newest, 1 to 100 titles) is dist/pagefind/, made again
at each change, with Pagefind's scripts and the list of the full pages' indexes that
search.js merges into it (Pagefind's mergeIndex). One new title thus indexes at most 100
landing pages, plus the 100 of the page it fills, whatever the archive's size. A title
withdrawn from a full page changes that page and moves every newer title back one place,
as in the hand-out, so those pages are indexed again under new names and the old ones go:
a withdrawn title is never found.

A new index is written beside the old, fsynced, and only then named in the new list: a
reader never sees half an index, and a failed index keeps the last good one, to be tried
again by the next run. On Linux the open page's folder is swapped in one step (renameat2
RENAME_EXCHANGE), so that there is no moment without a bundle either; elsewhere, two
renames leave one. The full pages' indexes no longer listed are removed after the swap.
A run that is stopped (SIGTERM, Ctrl-C) kills the Pagefind runs it started
(stop_indexing), rather than waiting for them or leaving them running after it.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from convert.defaults import PAGEFIND_RUNS_AT_ONCE, PAGEFIND_STOP_WAIT, PAGEFIND_TIME_LIMIT
from convert.errors import SeedpressError
from convert.files import fsync_directory, fsync_tree, read_regular, write_atomic

# The names in dist come from convert/layout.py: the bundle's folder, which search.js
# loads pagefind/pagefind.js from; the file Pagefind writes last (a bundle that has it is
# whole); the pages Pagefind indexes, the landing pages and nothing else (not the index
# pages, whose every title would then match twice); and the record of what the bundle
# in dist was made from (a digest of the landing pages' paths and sha256s, written once
# the bundle is in place).
from convert.layout import BUNDLE_ENTRY, BUNDLE_MANIFEST, BUNDLE_NAME, BUNDLE_PAGES_NAME, LANDING_GLOB, LANDING_NAME
from convert.layout import BUNDLE_NEW_NAME as _NEW
from convert.layout import BUNDLE_OLD_NAME as _OLD
from convert.layout import BUNDLE_SITE_NAME as _SITE
from convert.layout import BUNDLE_SOURCE_NAME as SOURCE_NAME
from convert.publish.entries import is_safe_name
from convert.publish.paging import PAGE_SIZE, page_count, page_span


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


@functools.cache
def pagefind_version() -> str:
    """The version of the installed Pagefind, which every page index is made by: an index
    made by another version is made again (Pagefind will not merge across versions)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pagefind")
    except PackageNotFoundError:
        return "none"


def page_index_name(landing_pages: Sequence[tuple[str, str]]) -> str:
    """The folder, under dist/pagefind.pages/, of the index of one full page's landing pages."""
    return hashlib.sha256(f"{pagefind_version()}\n{landing_digest(landing_pages)}".encode()).hexdigest()[:32]


def cut_into_pages(landing_pages: Sequence[tuple[str, str]]) -> list[Sequence[tuple[str, str]]]:
    """The landing pages, oldest first, cut as the hand-out's pages are; the last is the open page."""
    if not landing_pages:
        return []
    return [landing_pages[page_span(number)] for number in range(1, page_count(len(landing_pages)) + 1)]


def bundle_is_current(dist: Path, digest: str, page_indexes: Sequence[str] = ()) -> bool:
    """True when dist holds a whole bundle made from the landing pages `digest` describes,
    and every full page's index it lists."""
    try:
        made_from = read_regular(dist / SOURCE_NAME).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return (made_from == digest and (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file()
            and all((dist / BUNDLE_PAGES_NAME / name / BUNDLE_ENTRY).is_file() for name in page_indexes))


class _Indexing:
    """The Pagefind runs of this process: the ones running, how many indexing calls are under
    way (each cleans up after itself as it ends), and whether the run was stopped."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.running: set[subprocess.Popen] = set()
        self.calls = 0
        self.stopped = False


_indexing = _Indexing()


@contextmanager
def _indexing_call() -> Iterator[None]:
    """The block is an indexing call that stop_indexing waits for."""
    with _indexing.changed:
        _indexing.calls += 1
    try:
        yield
    finally:
        with _indexing.changed:
            _indexing.calls -= 1
            _indexing.changed.notify_all()


def stop_indexing() -> None:
    """The run is stopped (SIGTERM, Ctrl-C): kill the Pagefind runs under way, start no other,
    and wait (PAGEFIND_STOP_WAIT at most) for the calls that started them to remove what
    they had half made. The bundle in place stays, as after a failed index. Without this,
    the run waited for them (up to PAGEFIND_TIME_LIMIT each, past systemd's stop timeout),
    or ended and left them running and writing in dist. A new hand-out (allow_indexing)
    indexes again."""
    with _indexing.changed:
        _indexing.stopped = True
        for process in _indexing.running:
            process.kill()
        _indexing.changed.wait_for(lambda: not _indexing.calls, timeout=PAGEFIND_STOP_WAIT)


def allow_indexing() -> None:
    """Index again after stop_indexing: a new hand-out in the same process."""
    with _indexing.changed:
        _indexing.stopped = False


def refresh_bundle(dist: Path, landing_pages: Iterable[tuple[str, str]]) -> bool:
    """Make the static search index exactly `landing_pages` ((path, sha256) of each published
    landing page, oldest first as the hand-out orders them) unless it already does; say
    whether anything was made again. Only the open page's index, and the index of a full
    page not indexed yet, are made. With no landing page there is no bundle. A
    SeedpressError with one line says why an index could not be made; the bundle that was
    there stays, and the next call tries again."""
    with _indexing_call():
        return _refresh_bundle(dist, landing_pages)


def _refresh_bundle(dist: Path, landing_pages: Iterable[tuple[str, str]]) -> bool:
    dist = Path(dist).absolute()  # Pagefind runs in dist, so a relative path would name dist/dist
    landing_pages = list(landing_pages)
    pages = cut_into_pages(landing_pages)
    full, open_page = pages[:-1], pages[-1:]
    names = [page_index_name(page) for page in full]
    digest = hashlib.sha256(repr((pagefind_version(), names, [landing_digest(page) for page in open_page]))
                            .encode()).hexdigest()
    if bundle_is_current(dist, digest, names) or (
            not landing_pages and not (dist / BUNDLE_NAME).exists() and not (dist / BUNDLE_PAGES_NAME).exists()):
        return False
    try:
        for leftover in (dist / _NEW, dist / _OLD, dist / _SITE):
            shutil.rmtree(leftover, ignore_errors=True)
        if landing_pages:
            # Pagefind runs are mostly starting up and writing small files: a few at once
            # make the first index of a large archive (a thousand pages) several times faster.
            with ThreadPoolExecutor(max_workers=PAGEFIND_RUNS_AT_ONCE) as pool:
                listed = list(pool.map(partial(_page_index, dist), names, full))
            _index(dist, open_page[0], dist / _NEW)
            write_atomic(dist / _NEW / BUNDLE_MANIFEST,
                         json.dumps({"pages": listed}, separators=(",", ":"), ensure_ascii=True).encode("ascii"))
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
        _remove_unlisted(dist / BUNDLE_PAGES_NAME, set(names))
    except OSError as error:
        shutil.rmtree(dist / _NEW, ignore_errors=True)
        raise SeedpressError(f"pagefind: {error.filename or dist}: {error.strerror or error}; "
                             "the search bundle will be made again by the next run") from None
    finally:
        shutil.rmtree(dist / _SITE, ignore_errors=True)
    return True


def index_full_open_page_ahead(dist: Path, landing_pages: Sequence[tuple[str, str]]) -> None:
    """When the open page holds a full page of titles, make now the index it will have as
    a full page, which the next new title makes it: a run does so on a thread while its
    workers build (jobs._prepare_handout), so that its hand-out indexes only the new open
    page (0.45 s of the run that finds the 1,001st title). Named by its landing pages, as
    every full page's index is: one the hand-out does not list (the new title did not
    come last, or failed) is removed by the next refresh_bundle."""
    landing_pages = list(landing_pages)
    if not landing_pages or len(landing_pages) % PAGE_SIZE or not (dist / BUNDLE_NAME / BUNDLE_ENTRY).is_file():
        return
    page = landing_pages[-PAGE_SIZE:]
    with _indexing_call():
        _page_index(Path(dist).absolute(), page_index_name(page), page)


def _page_index(dist: Path, name: str, landing_pages: Sequence[tuple[str, str]]) -> dict:
    """The index of one full page, dist/pagefind.pages/<name>/, made now unless it is there
    whole; its entry in the list search.js reads: the path from dist/pagefind/ and its languages."""
    folder = dist / BUNDLE_PAGES_NAME / name
    if not (folder / BUNDLE_ENTRY).is_file():
        folder.parent.mkdir(exist_ok=True)
        made = folder.parent / f".{name}.new"
        shutil.rmtree(made, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        _index(dist, landing_pages, made, scripts=False)
        made.rename(folder)
        fsync_directory(folder.parent)
    languages = json.loads(read_regular(folder / BUNDLE_ENTRY))["languages"]
    return {"path": f"../{BUNDLE_PAGES_NAME}/{name}/", "languages": sorted(languages)}


def _remove_unlisted(folder: Path, listed: set[str]) -> None:
    """Remove the full pages' indexes no bundle lists any more (and any left half made)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name not in listed:
            shutil.rmtree(path, ignore_errors=True)
    if not listed:
        shutil.rmtree(folder, ignore_errors=True)


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


def _link_site(dist: Path, landing_pages: Sequence[tuple[str, str]], name: str) -> Path:
    """A folder, dist/.pagefind-site/<name>, of hard links to `landing_pages` at their own
    paths, for Pagefind to index just these (their URLs stay <key>/index.html)."""
    site = dist / _SITE / name
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    for path, _sha256 in landing_pages:
        key, _, name = path.partition("/")
        if not is_safe_name(key) or name != LANDING_NAME:
            raise SeedpressError(f"pagefind: {path!r} is not a landing page; the previous search bundle stays")
        (site / key).mkdir(exist_ok=True)
        os.link(dist / path, site / path)
    return site


def _index(dist: Path, landing_pages: Sequence[tuple[str, str]], output: Path, scripts: bool = True) -> None:
    """Run Pagefind over `landing_pages` into `output`, and fsync it. Without `scripts`, only
    the index is kept (what another index merges), not Pagefind's scripts and WebAssembly."""
    executable = pagefind_executable()
    if executable is None:
        raise SeedpressError("pagefind has no binary for this platform: the index page's search works "
                             "only with seedpress serve")
    site = _link_site(dist, landing_pages, output.name)
    # --keep-index-url: results link key/index.html, which every static host serves (not
    # all of them serve a folder URL).
    command = [str(executable), "--site", str(site), "--glob", LANDING_GLOB, "--keep-index-url",
               "--output-path", str(output), "--silent"]
    with _indexing.changed:
        if _indexing.stopped:
            raise SeedpressError("pagefind: the run was stopped; the previous search bundle stays")
        process = subprocess.Popen(command, cwd=dist, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, errors="replace",
                                   env={**os.environ, "RUST_BACKTRACE": "0"})
        _indexing.running.add(process)
    try:
        stdout, stderr = process.communicate(timeout=PAGEFIND_TIME_LIMIT)
    except BaseException as error:  # its time limit, or this thread stopped (Ctrl-C)
        process.kill()
        process.communicate()
        shutil.rmtree(output, ignore_errors=True)
        if isinstance(error, subprocess.TimeoutExpired):
            raise SeedpressError(f"pagefind: indexing the landing pages took over {PAGEFIND_TIME_LIMIT} s; "
                                 "the previous search bundle stays") from None
        raise
    finally:
        with _indexing.changed:
            _indexing.running.discard(process)
    if _indexing.stopped:
        shutil.rmtree(output, ignore_errors=True)
        raise SeedpressError("pagefind: the run was stopped; the previous search bundle stays")
    if process.returncode != 0 or not (output / BUNDLE_ENTRY).is_file():
        shutil.rmtree(output, ignore_errors=True)
        said = [line.strip() for line in (stderr or stdout).splitlines()
                if line.strip() and not line.startswith(("note:", "stack backtrace"))]
        if process.returncode < 0:
            raise SeedpressError(f"pagefind was killed by {signal_name(-process.returncode)}; "
                                 "the previous search bundle stays")
        raise SeedpressError(f"pagefind failed (exit {process.returncode}): "
                             f"{said[-1][:300] if said else 'no message'}; the previous search bundle stays")
    if not scripts:
        for path in output.iterdir():
            if path.is_file() and path.name != BUNDLE_ENTRY and not path.name.endswith(".pf_meta"):
                path.unlink()
    fsync_tree(output)
