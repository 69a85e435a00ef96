"""Every name in an archive folder (dist), the seed keys they reserve, and the run lock.

    dist/<key>/<key>.{md,pdf,epub,docx,txt}   a title's editions and its seed (edition_file)
    dist/<key>/<key>.cover.png, <key>.thumb.png  its cover and thumbnail (edition_file)
    dist/<key>/index.html                       its landing page
    dist/index.html, index-page-N.html          the index, paged
    dist/opds.xml, opds.json (-page-N)          the OPDS 1.2 and 2.0 catalogs, paged
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
    dist/.pagefind-source                       which landing pages the static search indexes
    dist/.metrics/seedpress.prom                the last run's metrics, for node_exporter's textfile collector

Every other module takes these names from here. This module imports nothing from
seedpress but its exceptions, so that any stage may use it.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from convert.errors import LockedError, SeedpressError

CATALOG_NAME = ".catalog.sqlite"
LOCK_NAME = ".lock"
WITHDRAWN_NAME = ".withdrawn"
PAGE_RECORD_NAME = ".handout-pages.json"
#: The title and base URL the last run handed the archive out with, for serve's own pages.
HANDOUT_OPTIONS_NAME = ".handout.json"
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

#: The edition whose file is a title's landing page.
LANDING_EDITION = "html"

#: A title's cover (the EPUB's, for a reader) and its thumbnail (for a list), as editions
#: and the names of their files: <key>.cover.png and <key>.thumb.png.
COVER_EDITION = "cover"
THUMBNAIL_EDITION = "thumbnail"
IMAGE_FILES = {COVER_EDITION: "cover.png", THUMBNAIL_EDITION: "thumb.png"}

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


def edition_file(key: str, edition: str) -> str:
    """The name of a title's file of `edition` in its folder: <key>.<edition>, index.html
    for its landing page, and <key>.cover.png, <key>.thumb.png for its images."""
    if edition == LANDING_EDITION:
        return LANDING_NAME
    return f"{key}.{IMAGE_FILES.get(edition, edition)}"


def edition_path(key: str, edition: str) -> str:
    """Where a title's file of `edition` is, relative to dist: <key>/<edition_file>."""
    return f"{key}/{edition_file(key, edition)}"


@contextmanager
def archive_lock(dist: Path) -> Iterator[None]:
    """Hold an exclusive flock on dist/.lock, or raise LockedError at once."""
    try:
        descriptor = os.open(dist / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise SeedpressError(f"{dist / LOCK_NAME}: cannot open the lock: {error.strerror}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{dist / LOCK_NAME}: another archive run holds the lock") from None
        yield
    finally:
        os.close(descriptor)
