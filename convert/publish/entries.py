"""The hand-out's model: the archive's options, its entries and their editions, and
the checks an entry passes before anything is written from it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, wraps
from typing import TypeVar
from urllib.parse import urljoin

from convert import defaults
from convert.archive.keys import is_safe_key
from convert.dates import read_timestamp, utc
from convert.defaults import COVER_SIZE, SERVER_SEARCH, STATIC_SEARCH, THUMBNAIL_SIZE
from convert.document.language import UNDETERMINED, is_language_tag
from convert.document.provenance import MAX_URL, Provenance, clipped, is_web_url
from convert.layout import COVER_EDITION, LANDING_EDITION, THUMBNAIL_EDITION
from convert.web import EDITION_TYPES

#: Editions the OPDS feeds offer as acquisitions, the ones an e-reader reads; the DOCX,
#: the Markdown master and the source text are plain links with their types.
FEED_EDITIONS = ("epub", "pdf")




#: The width and height (px) of each image an entry may have, as editions/cover.py draws them.
IMAGE_SIZES = {COVER_EDITION: COVER_SIZE, THUMBNAIL_EDITION: THUMBNAIL_SIZE}

#: When an archive has no entry yet: the feed still needs an `updated`, and it must not be now.
EMPTY_ARCHIVE_DATE = datetime(1970, 1, 1, tzinfo=UTC)

ARCHIVE_TITLE = defaults.ARCHIVE_TITLE



_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
#: Safe segments joined by "/": one match for a whole path (ten thousand a hand-out).
_SAFE_PATH = re.compile(rf"(?:{_SAFE_SEGMENT.pattern}/)*{_SAFE_SEGMENT.pattern}")




@dataclass(frozen=True)
class HandoutOptions:
    """How the hand-out presents the archive as a whole (seedpress.toml's [archive])."""

    title: str = ARCHIVE_TITLE
    """The title of index.html and of the OPDS feed."""
    base_url: str | None = None
    """The absolute http(s) URL dist/ is published at, ending in "/": the feed's links are
    resolved against it. None: relative links, as index.html's always are."""
    search: str = STATIC_SEARCH
    """SERVER_SEARCH when `seedpress serve` answers at the archive's address: only then do the
    OPDS feeds advertise its search (opensearch.xml, search.json{?query})."""
    lang: str = defaults.ARCHIVE_LANGUAGE
    """The language (BCP 47) of the index's own words (labels.toml); each title keeps its own."""

    def __post_init__(self) -> None:
        if not is_language_tag(self.lang):
            raise ValueError(f"lang must be a BCP 47 language tag: {clipped(str(self.lang))!r}")
        if self.base_url is not None and not (is_web_url(self.base_url) and self.base_url.endswith("/")):
            raise ValueError(f"base_url must be an absolute http(s) URL ending in '/' of at most {MAX_URL} "
                             f"characters: {clipped(self.base_url)!r}")
        if self.search not in (STATIC_SEARCH, SERVER_SEARCH):
            raise ValueError(f"search must be {STATIC_SEARCH!r} or {SERVER_SEARCH!r}: {clipped(self.search)!r}")

    @property
    def server_search(self) -> bool:
        """True when the feeds may advertise the server's search."""
        return self.search == SERVER_SEARCH

    def link(self, relative: str) -> str:
        """`relative` (a URL relative to dist/) as the feed links it: absolute when there is a base URL."""
        return relative if self.base_url is None else urljoin(self.base_url, relative)


@dataclass(frozen=True)
class Edition:
    """One file of an entry that readers can download."""

    name: str
    """The edition: "pdf", "epub", "docx", "md", or "txt" (the kept original seed)."""
    path: str
    """POSIX path of the file relative to dist, e.g. "000_x/000_x.pdf"."""
    size: int
    """The file's size in bytes."""
    sha256: str
    """Hex SHA-256 of the file's bytes."""


@dataclass(frozen=True)
class Entry:
    """One good seed as the hand-out shows it."""

    key: str
    """The seed's safe key, also the name of its folder in dist."""
    title: str
    """The literal title; any text at all, escaped wherever it is written."""
    identifier: str
    """The stable identifier of the document: "urn:sha256:<hex>"."""
    summary: str
    """The first sentence of the summary, plain text."""
    date: datetime
    """The timezone-aware build date of the seed."""
    editions: tuple[Edition, ...]
    """The files of this entry that readers can download."""
    author: str | None = None
    """Who wrote it; None when nobody said (then no author is shown)."""
    publisher: str | None = None
    """Who publishes it; None when nobody said."""
    rights: str | None = None
    """Its rights statement, e.g. "CC BY 4.0"; None when nobody said."""
    license_url: str | None = None
    """The absolute http(s) URL of its license; None when nobody said."""
    lang: str | None = None
    """The document's main language (BCP 47), marked on its title and summary; None when unknown."""
    published: str | None = None
    """The publication date a person gave (ISO 8601, as the master writes it); None: unknown,
    and then the entry is dated by `date` as archived, never as published."""
    description: str | None = None
    """What it is about, as a person described it; None when nobody did."""
    tags: tuple[str, ...] | None = None
    """Keywords a person gave (the feeds' categories and subjects); None when nobody did."""

    @cached_property
    def digest(self) -> str:
        """A digest of every field, for the pages' fingerprints (paging.Pages.fingerprint):
        worked out once an entry, though the entry is on a page of the archive and of each
        of its facet values (a thousand titles: 40 ms a run, through repr)."""
        return hashlib.sha256(repr(self).encode()).hexdigest()

    def published_day(self) -> str | None:
        """The publication date as YYYY-MM-DD, or None when none was given."""
        return None if self.published is None else self.published[:10]

    def marked_lang(self) -> str | None:
        """The language to mark the entry's own text with: none when unknown or undetermined."""
        return None if self.lang in (None, UNDETERMINED) else self.lang


def catalog_entry(key: str, title: str, identifier: str, summary: str | None, created: datetime | str | None,
                  files: Sequence[tuple[str, str, str, int]], *, provenance: str | None = None,
                  lang: str | None = None) -> Entry:
    """The Entry of one catalogued seed, from its row: `created` the build date, or the ISO
    timestamp the catalog keeps (none, or one that is not a timestamp: EMPTY_ARCHIVE_DATE), `files` as (edition, path, sha256, size), `provenance` the JSON the
    catalog keeps. The one mapping from the catalog to the hand-out, for the archive's
    pages and feeds and for serve's search answers alike."""
    return Entry(
        key=key, title=title, identifier=identifier, summary=summary or "",
        date=(created if isinstance(created, datetime) else read_timestamp(created)) or EMPTY_ARCHIVE_DATE,
        editions=tuple(Edition(name=edition, path=path, size=size, sha256=sha256)
                       for edition, path, sha256, size in files),
        lang=lang, **Provenance.from_json(provenance).as_dict(),
    )


def oldest_first(entries: Sequence[Entry]) -> list[Entry]:
    """Entries by date, oldest first, then by key: a new seed (a newer file) comes last."""
    return sorted(entries, key=lambda entry: (utc(entry.date), entry.key))


def check_entry(entry: Entry) -> None:
    """Refuse an entry whose key, dates or paths could not be published safely."""
    if not is_safe_key(entry.key):
        raise ValueError(f"unsafe key: {entry.key!r}")
    if entry.date.tzinfo is None or entry.date.utcoffset() is None:
        raise ValueError(f"{entry.key}: date must be timezone-aware: {entry.date!r}")
    for edition in entry.editions:
        if edition.name not in EDITION_TYPES and edition.name not in (LANDING_EDITION, *defaults.IMAGE_EDITIONS,
                                                                      *defaults.CITATION_EDITIONS):
            raise ValueError(f"{entry.key}: unknown edition {edition.name!r}")
        if not is_safe_relative_path(edition.path):
            raise ValueError(f"{entry.key}: unsafe edition path {edition.path!r}")
        if not _SHA256_HEX.fullmatch(edition.sha256):
            raise ValueError(f"{entry.key}: not a lowercase hex SHA-256: {edition.sha256!r}")
        if edition.size < 0:
            raise ValueError(f"{entry.key}: negative size for {edition.path}")
    if entry.lang is not None and not is_language_tag(entry.lang):
        raise ValueError(f"{entry.key}: not a BCP 47 language tag: {entry.lang[:40]!r}")
    if entry.license_url is not None and not is_web_url(entry.license_url):
        raise ValueError(f"{entry.key}: the license is not an http(s) URL: {entry.license_url[:80]!r}")


def is_safe_relative_path(path: str) -> bool:
    """True for a relative POSIX path of plain names: no `..`, no hidden parts, nothing to escape."""
    return _SAFE_PATH.fullmatch(path) is not None


def is_safe_name(name: str) -> bool:
    """True for one plain name the archive could write: ASCII letters, digits, `_`, `-`, `.`, no leading dot."""
    return _SAFE_SEGMENT.fullmatch(name) is not None


def newest_first(entries: Sequence[Entry]) -> list[Entry]:
    """Entries by date, newest first; equal dates by title, then key, so the order is total."""
    by_title = sorted(entries, key=lambda entry: (entry.title, entry.key))
    return sorted(by_title, key=lambda entry: entry.date, reverse=True)


T = TypeVar("T")


def once_per_entry(render: Callable[[Entry, Hashable], T]) -> Callable[[Entry, Hashable], T]:
    """`render(entry, context)` made once per entry and context, and kept by the entry's
    digest: an entry is rendered alike on a page of the archive and on one of each of its
    facet values (a year, a month, a language, an author, a tag), so that a hand-out of a
    new page and of its facets' new pages does a quarter of the work. What it gives is
    shared: the caller must not change it. At most RENDERED_KEPT are kept, then the
    memory is let go of and filled again."""
    made: dict[tuple[str, Hashable], T] = {}

    @wraps(render)
    def once(entry: Entry, context: Hashable) -> T:
        key = (entry.digest, context)
        found = made.get(key)
        if found is None:
            if len(made) >= RENDERED_KEPT:
                made.clear()
            found = made[key] = render(entry, context)
        return found

    once.kept = made  # for the tests: what it holds
    return once


#: Renderings once_per_entry keeps for each renderer: the titles of the pages one new seed
#: renders again (three pages of the archive's list and of each of its facet values'), and
#: a bound on memory, the same whatever the archive's size (an Atom entry takes 14 KB, an
#: index item 4, a publication 3: 21 MB at most) for a run and for `seedpress serve`.
RENDERED_KEPT = 1_000


def updated(entries: Sequence[Entry]) -> datetime:
    """When the archive last changed: its newest entry's date (never the clock)."""
    return max((utc(entry.date) for entry in entries), default=EMPTY_ARCHIVE_DATE)


def downloads(entry: Entry) -> list[Edition]:
    """The entry's editions in display order: PDF, EPUB, DOCX, Markdown, the seed."""
    order = list(EDITION_TYPES)
    return sorted((edition for edition in entry.editions if edition.name in EDITION_TYPES),
                  key=lambda edition: (order.index(edition.name), edition.path))


def image(entry: Entry, edition: str) -> Edition | None:
    """The entry's cover or thumbnail (`edition` is COVER_EDITION or THUMBNAIL_EDITION), if it has one."""
    return next((found for found in entry.editions if found.name == edition), None)


def landing(entry: Entry) -> str | None:
    """The path of the entry's landing page under dist, if it has one."""
    return next((edition.path for edition in entry.editions if edition.name == LANDING_EDITION), None)
