"""Every name in an archive folder (dist), the seed keys they reserve, and the run lock.

    dist/<key>/<key>.{md,pdf,epub,docx,txt}   a title's editions and its seed (edition_file)
    dist/<key>/<key>.cover.png, <key>.thumb.png  its cover and thumbnail (edition_file)
    dist/<key>/<key>.bib, <key>.csl.json        its citation, as BibTeX and CSL-JSON (edition_file)
    dist/<key>/index.html                       its landing page
    dist/index.html, index-page-N.html          the index, paged
    dist/opds.xml, opds.json (-page-N)          the OPDS 1.2 and 2.0 catalogs, paged
    dist/{index,opds}-<group>-<slug>.{html,xml,json} (-page-N)
                                                the titles of one facet value (an author, a year…), paged
    dist/browse-<group>.html                    the values of one facet group, with their counts
    dist/SHA256SUMS                             sha256sum -c over every published file
    dist/opensearch.xml                         serve's search description
    dist/search.js, dist/pagefind/              the static search of the landing pages (the open page's index)
    dist/pagefind.pages/<digest>/               the static search's index of each full hand-out page
    dist/favicon.svg                            the archive's icon
    dist/.catalog.sqlite                        the catalog
    dist/.lock                                  held by the one archive run at a time
    dist/.withdrawn/                            the files of withdrawn titles, moved aside
    dist/.handout-pages.json                    what each hand-out page was last written from
    dist/.handout.json                          the archive's title and base URL it was handed out with
    dist/.environment.json                      what the titles were last built in (code, fonts, styles…)
    dist/.handout-stamp.json                    what the last whole hand-out was made from, and its files then
    dist/.pagefind-source                       which landing pages the static search indexes
    dist/.metrics/seedpress.prom                the last run's metrics, for node_exporter's textfile collector

Every other module takes these names from here. This module imports nothing from
seedpress but its exceptions, so that any stage may use it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import stat
import time
import unicodedata
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from convert.errors import LockedError, SeedpressError

CATALOG_NAME = ".catalog.sqlite"
LOCK_NAME = ".lock"
WITHDRAWN_NAME = ".withdrawn"
PAGE_RECORD_NAME = ".handout-pages.json"
#: The title and base URL the last run handed the archive out with, for serve's own pages.
HANDOUT_OPTIONS_NAME = ".handout.json"
#: What the titles were last built in (build/environment.py's parts), to say what changed
#: when a run builds every title again.
ENVIRONMENT_NAME = ".environment.json"
#: What the last whole hand-out was made from and what its files were then (publish/stamp.py).
HANDOUT_STAMP_NAME = ".handout-stamp.json"
#: The folder node_exporter's textfile collector reads (--collector.textfile.directory), and
#: the file of metrics each archive run writes into it.
METRICS_DIR_NAME = ".metrics"
METRICS_FILE_NAME = "seedpress.prom"

INDEX_NAME = "index.html"
#: A title's landing page in its folder, dist/<key>/index.html.
LANDING_NAME = INDEX_NAME
FEED_NAME = "opds.xml"
JSON_FEED_NAME = "opds.json"
SUMS_NAME = "SHA256SUMS"
OPENSEARCH_NAME = "opensearch.xml"
SEARCH_SCRIPT_NAME = "search.js"
FAVICON_NAME = "favicon.svg"

#: What serve answers for a search (no file in dist holds it).
SEARCH_PAGE_PATH = "search"
SEARCH_FEED_PATH = "search.atom"
SEARCH_JSON_PATH = "search.json"
#: What serve answers with its own metrics, in the Prometheus text format.
METRICS_PATH = "metrics"

#: The static search bundle, swapped in whole from .pagefind-new.
BUNDLE_NAME = "pagefind"
BUNDLE_ENTRY = "pagefind-entry.json"
BUNDLE_SOURCE_NAME = ".pagefind-source"
BUNDLE_NEW_NAME = ".pagefind-new"
BUNDLE_OLD_NAME = ".pagefind-old"
#: The Pagefind index of each full hand-out page, dist/pagefind.pages/<digest>/, made once
#: (a key has no dot, so no title's folder can take the name), and the list in the open
#: page's bundle of those search.js merges.
BUNDLE_PAGES_NAME = "pagefind.pages"
BUNDLE_MANIFEST = "seedpress-pages.json"
#: Where a page's landing pages are linked while Pagefind indexes them.
BUNDLE_SITE_NAME = ".pagefind-site"
#: The landing pages, relative to dist, as Pagefind globs them.
LANDING_GLOB = f"*/{LANDING_NAME}"

#: The hand-out's later pages: index-page-2.html, opds-page-2.xml, opds-page-2.json.
PAGE_FILE = re.compile(r"(index|opds)-page-[0-9]+\.(html|xml|json)")

#: The facet groups a title is browsed by, in the order the feeds and pages give them:
#: its language, the year and month it was published (else archived), its author, its tags.
FACET_GROUPS = ("language", "year", "month", "author", "tag")
#: The groups with a page of their own in dist (browse-<group>.html); months are on the year page.
BROWSE_GROUPS = ("language", "year", "author", "tag")
#: Hex digits of a facet value's digest in its file names: 80 bits, so that no two values
#: an archive could hold share a name.
FACET_DIGEST_LENGTH = 20
#: The longest readable part of a facet value's file names.
FACET_READABLE_LENGTH = 40
_FACET_READABLE = re.compile(r"[^a-z0-9]+")
_GROUPS = "|".join(FACET_GROUPS)
#: Every file of a facet value (any page) and every browse page: what an archive run may
#: remove when the value or the group is gone.
FACET_FILE = re.compile(rf"(index|opds)-({_GROUPS})-([a-z0-9_]+-)?[0-9a-f]{{{FACET_DIGEST_LENGTH}}}"
                        r"(-page-[0-9]+)?\.(html|xml|json)|browse-(" + "|".join(BROWSE_GROUPS) + r")\.html")

#: The edition whose file is a title's landing page.
LANDING_EDITION = "html"

#: A title's cover (the EPUB's, for a reader) and its thumbnail (for a list), as editions
#: and the names of their files: <key>.cover.png and <key>.thumb.png.
COVER_EDITION = "cover"
THUMBNAIL_EDITION = "thumbnail"
IMAGE_FILES = {COVER_EDITION: "cover.png", THUMBNAIL_EDITION: "thumb.png"}

#: A title's citation, for reference managers, as editions and the names of their files:
#: <key>.bib (BibTeX) and <key>.csl.json (CSL-JSON).
BIBTEX_EDITION = "bib"
CSL_EDITION = "csl"
CITATION_FILES = {BIBTEX_EDITION: "bib", CSL_EDITION: "csl.json"}

#: Keys a seed may never get, compared case-insensitively: the names of the hand-out
#: in dist (a seed's folder must never take one) and the device names Windows reserves.
RESERVED_KEYS = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{n}" for n in range(10)] + [f"lpt{n}" for n in range(10)]
    + [name.split(".")[0].lower() for name in (INDEX_NAME, FEED_NAME, SUMS_NAME, SEARCH_PAGE_PATH, BUNDLE_NAME)]
)


def page_name(start: str, number: int) -> str:
    """The file of the numbered page `number` of the document whose start page is `start`
    (index.html → index-page-2.html); the start page itself is the newest, unnumbered."""
    stem, _, suffix = start.rpartition(".")
    return f"{stem}-page-{number}.{suffix}"


def facet_slug(value: str) -> str:
    """The part of a file name that stands for the facet value `value` (any text: `../x`,
    `<b>`, spaces, any script): a readable ASCII form of it, if it has one, and a digest
    of its exact text, so that the name is safe on every file system (lower-case ASCII
    letters, digits, `_` and one `-`), the same at every run, and different for every
    two values, even two that differ only in case or in a character the readable form
    drops."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:FACET_DIGEST_LENGTH]
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii").lower()
    readable = _FACET_READABLE.sub("_", folded).strip("_")[:FACET_READABLE_LENGTH].strip("_")
    return f"{readable}-{digest}" if readable else digest


def facet_name(start: str, group: str, value: str) -> str:
    """The start page of the facet value `value` of `group` for the document whose start
    page is `start`: opds.xml, author "Jane Doe" → opds-author-jane_doe-<digest>.xml.
    Its older pages are page_name() of it."""
    if group not in FACET_GROUPS:
        raise ValueError(f"unknown facet group {group!r}")
    stem, _, suffix = start.rpartition(".")
    return f"{stem}-{group}-{facet_slug(value)}.{suffix}"


def browse_name(group: str) -> str:
    """The page that lists the values of facet `group`: browse-author.html."""
    if group not in BROWSE_GROUPS:
        raise ValueError(f"no browse page for facet group {group!r}")
    return f"browse-{group}.html"


def edition_file(key: str, edition: str) -> str:
    """The name of a title's file of `edition` in its folder: <key>.<edition>, index.html
    for its landing page, <key>.cover.png, <key>.thumb.png for its images and <key>.bib,
    <key>.csl.json for its citation."""
    if edition == LANDING_EDITION:
        return LANDING_NAME
    return f"{key}.{IMAGE_FILES.get(edition) or CITATION_FILES.get(edition, edition)}"


def edition_path(key: str, edition: str) -> str:
    """Where a title's file of `edition` is, relative to dist: <key>/<edition_file>."""
    return f"{key}/{edition_file(key, edition)}"


#: How the others speak of the command that holds dist/.lock: who holds it, to a run
#: refused the lock ("… holds the lock"); what it does to the archive, to a verify that
#: waits ("…: verify waits for it to end"); and what it does, in `status` ("now: …"). A
#: named tuple, not a dataclass: this module is imported before the workers' server starts.
LockHolder = namedtuple("LockHolder", "refused waited now")


#: The word the command that holds dist/.lock writes in it (archive_lock), and how the
#: refusals, waits and status of the others name it. A lock held without a word (another
#: program's flock, or the moment before the word is written) is taken for an archive run's.
LOCK_HOLDERS = {
    "archive": LockHolder("another archive run", "an archive run is writing it",
                          "an archive run is under way (the last run above is the one before it)"),
    "restore": LockHolder("seedpress restore", "seedpress restore is writing it",
                          "seedpress restore is writing the archive"),
    "bag": LockHolder("seedpress bag", "seedpress bag is reading it for a deposit",
                      "seedpress bag is reading the archive for a deposit"),
}


@contextmanager
def archive_lock(dist: Path, holder: str = "archive") -> Iterator[None]:
    """Hold an exclusive flock on dist/.lock, or raise LockedError at once; `holder` (a word
    of LOCK_HOLDERS) is written in the file while it is held."""
    try:
        descriptor = os.open(dist / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise SeedpressError(f"{dist / LOCK_NAME}: cannot open the lock: {error.strerror}") from None
    try:
        try:
            _lock_at_once(descriptor)
        except BlockingIOError:
            # Refused, yet shareable: a verify holds it shared, not a run.
            said = ("seedpress verify is reading the archive: run again when it ends" if _shareable(descriptor)
                    else f"{LOCK_HOLDERS[lock_holder(descriptor)].refused} holds the lock")
            raise LockedError(f"{dist / LOCK_NAME}: {said}") from None
        own = _own_lock_file(dist / LOCK_NAME, descriptor)
        if own:
            _write_holder(descriptor, holder)
        try:
            yield
        finally:
            if own:
                _write_holder(descriptor, "")
    finally:
        os.close(descriptor)


def _own_lock_file(path: Path, descriptor: int) -> bool:
    """Whether the lock open as `descriptor` is a file of its own that seedpress may write:
    a regular file with one name, `path` itself and no link to another. A .lock planted as
    a symbolic or hard link to someone's file is only locked, never truncated."""
    try:
        opened, named = os.fstat(descriptor), os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISREG(opened.st_mode) and opened.st_nlink == 1
            and (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino))


def _write_holder(descriptor: int, word: str) -> None:
    try:
        os.ftruncate(descriptor, 0)
        if word:
            os.pwrite(descriptor, f"{word}\n".encode("ascii"), 0)
    except OSError:
        pass  # a full disk: the others say "an archive run" for it


def lock_holder(descriptor: int) -> str:
    """The word of LOCK_HOLDERS the holder of the lock open as `descriptor` wrote in it;
    "archive" for none or any other text (the file is anyone's to write)."""
    try:
        word = os.pread(descriptor, 16, 0).decode("ascii", "replace").strip()
    except OSError:
        return "archive"
    return word if word in LOCK_HOLDERS else "archive"


#: Tries an archive run makes for the lock, a hundredth of a second apart, before it is
#: refused: `status` holds the lock shared for a moment to see whether a run is under way,
#: and a run that came at that moment was refused as if a verify were reading.
LOCK_TRIES = 5


def _lock_at_once(descriptor: int) -> None:
    """flock(LOCK_EX) without waiting for a holder, past a moment's probe; BlockingIOError."""
    for _try in range(LOCK_TRIES - 1):
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.01)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _shareable(descriptor: int) -> bool:
    """True when the lock could be held shared at once: it is free, or held shared (by
    verify); False when a run holds it to write. The lock is left as it was."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(descriptor, fcntl.LOCK_UN)
    return True


def held_by(dist: Path) -> str | None:
    """The word of LOCK_HOLDERS of the command that holds dist/.lock (an archive run,
    restore, a bag being made), None when none does: what `status` reads is then the state
    before it."""
    try:
        descriptor = os.open(dist / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return None if _shareable(descriptor) else lock_holder(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def reading_lock(dist: Path, on_wait: Callable[[LockHolder], None]) -> Iterator[None]:
    """Hold dist/.lock shared while the archive is read whole (verify): an archive run, which
    holds it exclusively for as long as it writes, is waited for (`on_wait` is called
    first, with the holder's LockHolder), and none starts until the block ends. Read
    half-way through a run, the archive is a moving target: files renamed in, SHA256SUMS
    not yet written again. Without a lock
    file that can be opened (a read-only copy, which no run writes), nothing is held."""
    descriptor = None
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            descriptor = os.open(dist / LOCK_NAME, flags | os.O_CLOEXEC, 0o644)
            break
        except OSError:
            continue
    if descriptor is None:
        yield
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(LOCK_HOLDERS[lock_holder(descriptor)])
            fcntl.flock(descriptor, fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)
