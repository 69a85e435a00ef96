"""Hand the archive out: index.html, an OPDS catalog and SHA256SUMS in dist (DESIGN §6).

Everything here is written from the entries the caller gives (the catalog's
good seeds) and the archive's title and base URL (seedpress.toml's [archive]),
nothing else: no clock, no directory scan, so the same entries always give the
same bytes and an unchanged archive rewrites nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from urllib.parse import quote, urljoin

from lxml import etree

from . import __version__, defaults
from .dates import iso_timestamp, utc
from .environment import code_digest
from .files import read_regular, write_if_changed
from .language import UNDETERMINED, is_language_tag, is_right_to_left
from .provenance import is_web_url

INDEX_NAME = "index.html"
FEED_NAME = "opds.xml"
SUMS_NAME = "SHA256SUMS"

#: The media type of an OPDS acquisition feed, for links and for the server.
OPDS_ACQUISITION_TYPE = "application/atom+xml;profile=opds-catalog;kind=acquisition"
OPDS_ACQUISITION_REL = "http://opds-spec.org/acquisition"
#: The link relation of a license (RFC 4946).
LICENSE_REL = "license"

#: Each edition a reader can download: its media type and the label it gets, in display order.
EDITION_TYPES = {
    "pdf": ("application/pdf", "PDF"),
    "epub": ("application/epub+zip", "EPUB"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "DOCX"),
    "md": ("text/markdown; charset=utf-8", "Markdown"),
    "txt": ("text/plain; charset=utf-8", "original seed"),
}
#: Editions the OPDS feed offers as acquisitions; the Markdown master and the seed are for people.
FEED_EDITIONS = ("epub", "pdf", "docx")
#: The landing page of an entry: not a download, the page the index and feeds link its title to.
LANDING_EDITION = defaults.LANDING_EDITION

#: When an archive has no entry yet: the feed still needs an `updated`, and it must not be now.
EMPTY_ARCHIVE_DATE = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: The feed's id: constant so that readers recognise the catalog across rebuilds.
FEED_ID = "urn:seedpress:catalog"
ARCHIVE_TITLE = defaults.ARCHIVE_TITLE

_SAFE_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/terms/"
OPDS = "http://opds-spec.org/2010/catalog"

# Colours and layout only; the page must read well at 320 px and in dark mode.
# Served pages allow exactly this block by its hash, so any edit changes the CSP too.
STYLE = """
:root { --text: #1d2228; --page: #ffffff; --muted: #5b6470; --line: #d8dde3; --accent: #0b5cad; }
@media (prefers-color-scheme: dark) {
  :root { --text: #e6e9ed; --page: #16191d; --muted: #a5adb8; --line: #3a4048; --accent: #7db7ff; }
}
* { box-sizing: border-box; }
html { background: var(--page); color: var(--text); }
body {
  margin: 0 auto; max-width: 46rem; padding: 1rem; overflow-wrap: anywhere;
  font: 1.0625rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
header { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; }
h2 { font-size: 1.2rem; line-height: 1.3; margin: 0 0 0.25rem; }
a { color: var(--accent); }
.about, .date, .size, .provenance { color: var(--muted); }
.about { margin: 0 0 1rem; }
.entries { list-style: none; margin: 0; padding: 0; }
.entries > li { border-bottom: 1px solid var(--line); padding: 1rem 0; }
.date, .provenance { font-size: 0.9rem; margin: 0; }
.summary { margin: 0.5rem 0; }
.downloads { display: flex; flex-wrap: wrap; gap: 0.5rem; list-style: none; margin: 0; padding: 0; }
.downloads a {
  display: inline-block; min-height: 2.75rem; padding: 0.45rem 0.75rem; line-height: 1.8;
  border: 1px solid var(--line); border-radius: 0.4rem; text-decoration: none;
}
.downloads a:hover, .downloads a:focus { border-color: var(--accent); }
.size { font-size: 0.85rem; }
footer { color: var(--muted); font-size: 0.85rem; padding: 1rem 0; }
.search { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0 0 1rem; }
.search label { flex-basis: 100%; font-weight: 600; }
.search input {
  flex: 1 1 12rem; min-height: 2.75rem; padding: 0.4rem 0.6rem; font: inherit;
  color: var(--text); background: var(--page); border: 1px solid var(--muted); border-radius: 0.4rem;
}
.search button {
  min-height: 2.75rem; padding: 0.4rem 1rem; font: inherit; font-weight: 600;
  color: var(--page); background: var(--accent); border: 0; border-radius: 0.4rem;
}
.search-results { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
.search-results h2 { font-size: 1rem; }
.search-results h3 { font-size: 1.05rem; margin: 0; }
.search-results li { margin: 0 0 0.75rem; }
.search-results p { margin: 0.25rem 0 0; }
"""

#: What the index page may load: its own <style> block (by hash), and search.js with the
#: Pagefind bundle it loads from this site (modules, a worker, fetched index files). The
#: search form goes to this site only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
    "script-src 'self'; worker-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'"
)
#: What Pagefind's web worker may do, which runs under its script's own policy (serve sends
#: it): fetch the index files and compile Pagefind's WebAssembly, nothing else.
WORKER_POLICY = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'"
#: The index page's script: the search box, answered by the Pagefind bundle (sitesearch.py).
SEARCH_SCRIPT_NAME = "search.js"
SEARCH_SCRIPT = (Path(__file__).parent / "assets" / SEARCH_SCRIPT_NAME).read_bytes()


@dataclass(frozen=True)
class HandoutOptions:
    """How the hand-out presents the archive as a whole (seedpress.toml's [archive])."""

    title: str = ARCHIVE_TITLE
    """The title of index.html and of the OPDS feed."""
    base_url: str | None = None
    """The absolute http(s) URL dist/ is published at, ending in "/": the feed's links are
    resolved against it. None: relative links, as index.html's always are."""

    def __post_init__(self) -> None:
        if self.base_url is not None and not (is_web_url(self.base_url) and self.base_url.endswith("/")):
            raise ValueError(f"base_url must be an absolute http(s) URL ending in '/': {self.base_url!r}")

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

    def marked_lang(self) -> str | None:
        """The language to mark the entry's own text with: none when unknown or undetermined."""
        return None if self.lang in (None, UNDETERMINED) else self.lang


def write_handout(dist: Path, entries: Sequence[Entry], options: HandoutOptions = HandoutOptions()) -> list[str]:
    """Write the hand-out into dist atomically, each file only if its bytes changed; return
    the names actually written (and removed: pages no longer needed).

    index.html, opds.xml and opds.json are the newest page of each; older pages are
    numbered from the oldest (Pages), so one new seed rewrites at most three documents
    of each. An older page whose inputs are those it was last written from, and whose
    file still holds what was written, is not even rendered (PageRecord). Every entry is checked
    first (safe key, aware date, plain relative paths, hex digests); a ValueError for a
    bad one leaves dist untouched.
    """
    dist = Path(dist)
    for entry in entries:
        check_entry(entry)
    keys = [entry.key for entry in entries]
    if len(set(keys)) != len(keys):
        raise ValueError(f"two entries share a key: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
    pages = Pages(oldest_first(entries))
    dist.mkdir(parents=True, exist_ok=True)
    written = [name for name, data in ((SUMS_NAME, render_sums(newest_first(entries))),
                                       (SEARCH_SCRIPT_NAME, SEARCH_SCRIPT))
               if write_if_changed(dist / name, data)]
    record = PageRecord.read(dist, options)
    wanted = {SUMS_NAME}
    for number in pages.numbers():
        page = pages.page(number)
        inputs = pages.fingerprint(number)
        for start, render in ((FEED_NAME, render_feed), (JSON_FEED_NAME, render_json_feed),
                              (INDEX_NAME, render_index)):
            name = pages.name(start, number)
            wanted.add(name)
            if record.holds(name, inputs):
                continue
            data = render(page, options, pages=pages, number=number)
            if write_if_changed(dist / name, data):
                written.append(name)
            record.wrote(name, inputs, data)
    for stale in sorted(set(old_pages(dist)) - wanted):
        (dist / stale).unlink(missing_ok=True)
        written.append(stale)
    record.write(wanted)
    return written


class PageRecord:
    """What each page of dist was last rendered from, kept in dist/.handout-pages.json: a
    digest of its inputs and the sha256 of the bytes written. A page whose inputs are the
    same and whose file still holds those bytes need not be rendered again, which keeps
    one new seed at a fraction of a second however many pages the archive has. A page
    edited or removed since, a record that cannot be read, or another version of
    seedpress's code or of the archive's title and base URL: the page is rendered again
    and compared byte for byte, as without a record."""

    NAME = ".handout-pages.json"

    def __init__(self, dist: Path, salt: str, pages: dict[str, list]):
        self.dist, self.salt, self.pages = dist, salt, pages

    @classmethod
    def read(cls, dist: Path, options: HandoutOptions) -> PageRecord:
        """The record in dist, or an empty one when it is missing, unreadable or for other code or options."""
        # What a page's bytes depend on besides its inputs: seedpress's code (all of it, as
        # for a rebuild), the lxml that serializes the feed, the archive's title and base URL.
        salt = hashlib.sha256(repr((__version__, etree.LXML_VERSION, code_digest(), options)).encode()).hexdigest()
        try:
            kept = json.loads(read_regular(dist / cls.NAME))
            pages = kept["pages"] if kept["salt"] == salt and isinstance(kept["pages"], dict) else {}
        except (OSError, ValueError, KeyError, TypeError):
            pages = {}
        return cls(dist, salt, pages)

    def holds(self, name: str, inputs: str) -> bool:
        """True when `name` was written from `inputs` and its file still holds what was written."""
        recorded = self.pages.get(name)
        if not isinstance(recorded, list) or recorded[:1] != [inputs]:
            return False
        try:
            return [inputs, hashlib.sha256(read_regular(self.dist / name)).hexdigest()] == recorded
        except OSError:
            return False

    def wrote(self, name: str, inputs: str, data: bytes) -> None:
        """Note that `name` now holds `data`, rendered from `inputs`."""
        self.pages[name] = [inputs, hashlib.sha256(data).hexdigest()]

    def write(self, names: set[str]) -> None:
        """Keep the record of the pages `names` (the others are gone) in dist."""
        pages = {name: value for name, value in sorted(self.pages.items()) if name in names}
        write_if_changed(self.dist / self.NAME,
                         json.dumps({"salt": self.salt, "pages": pages}, indent=0).encode("ascii"))


#: Titles on one page of the index and of each feed.
PAGE_SIZE = 100
JSON_FEED_NAME = "opds.json"
OPDS2_TYPE = "application/opds+json"
_PAGE_FILE = re.compile(r"(index|opds)-page-[0-9]+\.(html|xml|json)")


def old_pages(dist: Path) -> list[str]:
    """The numbered pages of an earlier hand-out in dist."""
    return [path.name for path in dist.iterdir() if _PAGE_FILE.fullmatch(path.name)]


class Pages:
    """The entries, oldest first, cut into pages numbered from the oldest: page 1 holds the
    first PAGE_SIZE, and so on. The last page (1 to PAGE_SIZE entries) is the start
    document itself (index.html, opds.xml, opds.json); every earlier page is full and
    never changes again, but for its link to the next newer one when the start page
    fills up. So one new seed rewrites the start page, and at most the new full page
    and the one before it."""

    def __init__(self, entries: Sequence[Entry]):
        self.entries = list(entries)
        self.last = max(1, -(-len(self.entries) // PAGE_SIZE))

    def numbers(self) -> range:
        return range(1, self.last + 1)

    def page(self, number: int) -> list[Entry]:
        """The entries of page `number`, newest first."""
        return self.entries[(number - 1) * PAGE_SIZE: number * PAGE_SIZE][::-1]

    def name(self, start: str, number: int) -> str:
        """The file of page `number` of the document whose start page is `start`."""
        if number == self.last:
            return start
        stem, suffix = start.rsplit(".", 1)
        return f"{stem}-page-{number}.{suffix}"

    def fingerprint(self, number: int) -> str:
        """A digest of everything page `number` is rendered from but the archive's options:
        its entries and the pages it links to; the start page also tells how many titles
        the archive has and when it last changed."""
        linked = [(rel, self.name(INDEX_NAME, target)) for rel, target in _page_links(self, number)]
        whole = (len(self.entries), updated(self.entries)) if number == self.last else None
        return hashlib.sha256(repr((number, linked, whole, self.page(number))).encode()).hexdigest()

    def older(self, number: int) -> int | None:
        return number - 1 if number > 1 else None

    def newer(self, number: int) -> int | None:
        return number + 1 if number < self.last else None


def oldest_first(entries: Sequence[Entry]) -> list[Entry]:
    """Entries by date, oldest first, then by key: a new seed (a newer file) comes last."""
    return sorted(entries, key=lambda entry: (utc(entry.date), entry.key))


def check_entry(entry: Entry) -> None:
    """Refuse an entry whose key, dates or paths could not be published safely."""
    if not _SAFE_KEY.fullmatch(entry.key):
        raise ValueError(f"unsafe key: {entry.key!r}")
    if entry.date.tzinfo is None or entry.date.utcoffset() is None:
        raise ValueError(f"{entry.key}: date must be timezone-aware: {entry.date!r}")
    for edition in entry.editions:
        if edition.name not in EDITION_TYPES and edition.name != LANDING_EDITION:
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
    return bool(path) and all(is_safe_name(part) for part in path.split("/"))


def is_safe_name(name: str) -> bool:
    """True for one plain name the archive could write: ASCII letters, digits, `_`, `-`, `.`, no leading dot."""
    return _SAFE_SEGMENT.fullmatch(name) is not None


def newest_first(entries: Sequence[Entry]) -> list[Entry]:
    """Entries by date, newest first; equal dates by title, then key, so the order is total."""
    by_title = sorted(entries, key=lambda entry: (entry.title, entry.key))
    return sorted(by_title, key=lambda entry: entry.date, reverse=True)


def updated(entries: Sequence[Entry]) -> datetime:
    """When the archive last changed: its newest entry's date (never the clock)."""
    return max((utc(entry.date) for entry in entries), default=EMPTY_ARCHIVE_DATE)


def human_size(size: int) -> str:
    """A file size as people read it: "812 bytes", "7.3 kB", "34 kB", "1.2 MB"."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if round(value) < 1000 or unit == "TB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def href(path: str) -> str:
    """A relative URL for a path under dist (percent-encoded; the page and feed sit at its top)."""
    return quote(path, safe="/")


def downloads(entry: Entry) -> list[Edition]:
    """The entry's editions in display order: PDF, EPUB, DOCX, Markdown, the seed."""
    order = list(EDITION_TYPES)
    return sorted((edition for edition in entry.editions if edition.name in EDITION_TYPES),
                  key=lambda edition: (order.index(edition.name), edition.path))


def landing(entry: Entry) -> str | None:
    """The path of the entry's landing page under dist, if it has one."""
    return next((edition.path for edition in entry.editions if edition.name == LANDING_EDITION), None)


# --- SHA256SUMS --------------------------------------------------------------

def render_sums(entries: Sequence[Entry]) -> bytes:
    """`sha256sum -c` lines for every edition of every entry, sorted by path."""
    lines = sorted(
        (edition.path, edition.sha256) for entry in entries for edition in entry.editions
    )
    return "".join(f"{digest}  {path}\n" for path, digest in lines).encode("ascii")


# --- opds.xml ----------------------------------------------------------------

def render_feed(entries: Sequence[Entry], options: HandoutOptions = HandoutOptions(), *,
                pages: Pages | None = None, number: int = 1) -> bytes:
    """One page of the OPDS 1.2 acquisition feed: an Atom entry per seed with its editions
    as acquisitions, paged by RFC 5005 links (first is the newest page, the start; next
    goes to older ones), its links absolute when the archive has a base URL."""
    pages = pages or Pages(oldest_first(entries))
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM, "dc": DC, "opds": OPDS})
    _text(feed, "id", FEED_ID if number == pages.last else f"{FEED_ID}:page:{number}")
    _text(feed, "title", options.title)
    # An older page tells only of its own entries: the archive's size or last change would
    # rewrite every page at every new seed.
    _text(feed, "updated", iso_timestamp(updated(pages.entries if number == pages.last else entries)))
    author = etree.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "seedpress")
    generator = _text(feed, "generator", "seedpress")
    generator.set("version", __version__)
    for rel, target in _page_links(pages, number):
        _link(feed, rel=rel, href=options.link(pages.name(FEED_NAME, target)), type=OPDS_ACQUISITION_TYPE)
    _link(feed, rel="alternate", href=options.link(pages.name(INDEX_NAME, number)), type="text/html")
    _link(feed, rel="search", href=options.link(OPENSEARCH_NAME), type=OPENSEARCH_TYPE)
    for entry in entries:
        feed.append(feed_entry(entry, options))
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


#: Where `seedpress serve` describes its search (OpenSearch 1.1).
OPENSEARCH_NAME = "opensearch.xml"
OPENSEARCH_TYPE = "application/opensearchdescription+xml"


def _page_links(pages: Pages, number: int) -> list[tuple[str, int]]:
    """(rel, page number) of the links a page carries: self, start, first, last, next, previous."""
    links = [("self", number), ("start", pages.last), ("first", pages.last), ("last", 1)]
    if pages.older(number) is not None:
        links.append(("next", pages.older(number)))
    if pages.newer(number) is not None:
        links.append(("previous", pages.newer(number)))
    return links


def render_json_feed(entries: Sequence[Entry], options: HandoutOptions = HandoutOptions(), *,
                     pages: Pages | None = None, number: int = 1) -> bytes:
    """One page of the catalog as OPDS 2.0 JSON, paged as the Atom feed is."""
    pages = pages or Pages(oldest_first(entries))
    links = [{"rel": rel, "href": options.link(pages.name(JSON_FEED_NAME, target)), "type": OPDS2_TYPE}
             for rel, target in _page_links(pages, number) if rel != "start"]
    links.append({"rel": "search", "href": options.link("search.json") + "{?query}", "type": OPDS2_TYPE,
                  "templated": True})
    links.append({"rel": "alternate", "href": options.link(pages.name(INDEX_NAME, number)), "type": "text/html"})
    metadata = {"title": options.title, "itemsPerPage": PAGE_SIZE, "modified": iso_timestamp(updated(entries))}
    if number == pages.last:
        # Only the start page tells of the whole archive: an older page stays as it is.
        metadata.update(numberOfItems=len(pages.entries), currentPage=1,
                        modified=iso_timestamp(updated(pages.entries)))
    feed = {
        "metadata": metadata,
        "links": links,
        **json_collection([json_publication(entry, options) for entry in entries], options.link(JSON_FEED_NAME)),
    }
    return (json.dumps(feed, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def json_collection(publications: list[dict], start: str) -> dict:
    """The collection an OPDS 2.0 feed holds: its publications, or, when there are none (an
    empty archive, a search that matched nothing), a navigation link to the start of the
    catalog. OPDS 2.0 wants at least one non-empty collection in every feed; an empty
    `publications` array is not one."""
    if publications:
        return {"publications": publications}
    return {"navigation": [{"rel": "start", "href": start, "type": OPDS2_TYPE, "title": "All titles"}]}


def json_publication(entry: Entry, options: HandoutOptions) -> dict:
    """One publication of the OPDS 2.0 feed: its metadata and its acquisition links."""
    metadata = {"@type": "http://schema.org/Book", "title": xml_safe(entry.title), "identifier": entry.identifier,
                "modified": iso_timestamp(entry.date), "published": utc(entry.date).strftime("%Y-%m-%d"),
                "description": xml_safe(entry.summary)}
    if entry.marked_lang() is not None:
        metadata["language"] = entry.marked_lang()
    for field in ("author", "publisher"):
        if getattr(entry, field) is not None:
            metadata[field] = {"name": xml_safe(getattr(entry, field))}
    if entry.rights is not None:
        metadata["rights"] = xml_safe(entry.rights)
    links = [json_acquisition(edition, options.link(href(edition.path)))
             for edition in downloads(entry) if edition.name in FEED_EDITIONS]
    page = landing(entry)
    if page is not None:
        links.insert(0, {"rel": "alternate", "href": options.link(href(page)), "type": "text/html"})
    if entry.license_url is not None:
        links.append({"rel": LICENSE_REL, "href": entry.license_url})
    return {"metadata": metadata, "links": links}


def json_acquisition(edition: Edition, link: str) -> dict:
    """The OPDS 2.0 acquisition link of an edition at `link`. Its size in bytes is the Link
    Object's own `size` (Readium Web Publication Manifest), not one of its `properties`,
    and like that `size` is given only when above 0."""
    acquisition = {"rel": OPDS_ACQUISITION_REL, "href": link, "type": EDITION_TYPES[edition.name][0],
                   "title": EDITION_TYPES[edition.name][1]}
    if edition.size > 0:
        acquisition["size"] = edition.size
    return acquisition


def feed_entry(entry: Entry, options: HandoutOptions = HandoutOptions()) -> etree._Element:
    item = etree.Element(f"{{{ATOM}}}entry")
    _text(item, "title", entry.title)
    _text(item, "id", entry.identifier)
    _text(item, "updated", iso_timestamp(entry.date))
    if entry.author is not None:
        _text(etree.SubElement(item, f"{{{ATOM}}}author"), "name", entry.author)
    etree.SubElement(item, f"{{{DC}}}identifier").text = xml_safe(entry.identifier)
    etree.SubElement(item, f"{{{DC}}}issued").text = utc(entry.date).strftime("%Y-%m-%d")
    if entry.marked_lang() is not None:
        etree.SubElement(item, f"{{{DC}}}language").text = entry.marked_lang()
    if entry.publisher is not None:
        etree.SubElement(item, f"{{{DC}}}publisher").text = xml_safe(entry.publisher)
    if entry.rights is not None:
        _text(item, "rights", entry.rights).set("type", "text")
    summary = _text(item, "summary", entry.summary)
    summary.set("type", "text")
    for edition in downloads(entry):
        if edition.name in FEED_EDITIONS:
            media_type, label = EDITION_TYPES[edition.name]
            link = _link(item, rel=OPDS_ACQUISITION_REL, href=options.link(href(edition.path)), type=media_type)
            link.set("title", label)
            link.set("length", str(edition.size))
    page = landing(entry)
    _link(item, rel="alternate", href=options.link(href(page) if page else f"{INDEX_NAME}#{entry.key}"),
          type="text/html")
    if entry.license_url is not None:
        _link(item, rel=LICENSE_REL, href=entry.license_url)
    return item


def _text(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM}}}{name}")
    element.text = xml_safe(text)
    return element


def _link(parent: etree._Element, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{ATOM}}}link", attributes)


# Characters neither XML 1.0 nor HTML text may carry. The seed reader already
# replaces them; this keeps an Entry made elsewhere from breaking the whole page.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Text with every character XML 1.0 and HTML text cannot carry replaced by U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", text)


def html_text(text: str) -> str:
    """Text as HTML character data or attribute value: escaped, quotes included."""
    return escape(xml_safe(text), quote=True)


# --- index.html --------------------------------------------------------------

def render_index(entries: Sequence[Entry], options: HandoutOptions = HandoutOptions(), *,
                 pages: Pages | None = None, number: int = 1) -> bytes:
    """One page of the static index: its entries newest first with their downloads, all text
    escaped, with links to the newer and older pages."""
    pages = pages or Pages(oldest_first(entries))
    total = len(pages.entries)
    count = f"{total} {'title' if total == 1 else 'titles'}"
    # Only the start page tells of the whole archive: an older page stays as it is.
    about = (f"{html_text(count)} · updated {_time(updated(pages.entries))} · " if number == pages.last
             else f'<a href="{INDEX_NAME}">Newest titles</a> · ')
    about += (
        f'<a href="{FEED_NAME}" type="{html_text(OPDS_ACQUISITION_TYPE)}">OPDS catalog</a> · '
        f'<a href="{SUMS_NAME}" type="text/plain">SHA256SUMS</a>'
    )
    items = "\n".join(index_item(entry) for entry in entries)
    listing = f'<ol class="entries">\n{items}\n</ol>' if entries else "<p>Nothing has been published yet.</p>"
    head_links = "".join(
        f'\n<link rel="{rel}" href="{pages.name(INDEX_NAME, target)}">'
        for rel, target in (("next", pages.older(number)), ("prev", pages.newer(number))) if target is not None)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
{page_head(CONTENT_SECURITY_POLICY)}<title>{html_text(options.title)}{"" if number == pages.last else f" · page {number}"}</title>
<link rel="alternate" type="{html_text(OPDS_ACQUISITION_TYPE)}" href="{FEED_NAME}" title="OPDS catalog">{head_links}
<style>{STYLE}</style>
<script type="module" src="{SEARCH_SCRIPT_NAME}"></script>
</head>
<body>
<header>
<h1>{html_text(options.title)}</h1>
<p class="about">{about}</p>
</header>
<main>
<form class="search" id="search" role="search" action="search" method="get">
<label for="search-query">Search the archive</label>
<input id="search-query" name="q" type="search" maxlength="1000" required>
<button type="submit">Search</button>
</form>
<div id="search-results" class="search-results" aria-live="polite" hidden></div>
{listing}
</main>
{_page_navigation(pages, number)}<footer>
<p>Each title keeps the summary of the original article apart from the commentary appended to it.
Check your downloads with <code>sha256sum -c SHA256SUMS</code>.</p>
</footer>
</body>
</html>
"""
    return page.encode("utf-8")


def page_head(policy: str) -> str:
    """The lines every HTML page seedpress writes opens its <head> with: UTF-8, a phone's
    viewport, its Content-Security-Policy, no referrer, and the generator."""
    return (
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html_text(policy)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta name="generator" content="seedpress {html_text(__version__)}">\n'
    )


def _page_navigation(pages: Pages, number: int) -> str:
    """Newer and older links and where this page stands, when there is more than one page."""
    if pages.last == 1:
        return ""
    links = []
    if pages.newer(number) is not None:
        links.append(f'<a rel="prev" href="{pages.name(INDEX_NAME, pages.newer(number))}">Newer</a>')
    if number == pages.last:
        links.append("Newest titles")
    else:
        links.append(f"Page {number} (numbered from the oldest)")
    if pages.older(number) is not None:
        links.append(f'<a rel="next" href="{pages.name(INDEX_NAME, pages.older(number))}">Older</a>')
    return f'<nav class="pages" aria-label="Pages">{" · ".join(links)}</nav>\n'


def index_item(entry: Entry) -> str:
    links = "\n".join(
        f'<li><a href="{html_text(href(edition.path))}" type="{html_text(EDITION_TYPES[edition.name][0])}" download>'
        f'{html_text(EDITION_TYPES[edition.name][1])} <span class="size">{html_text(human_size(edition.size))}</span></a></li>'
        for edition in downloads(entry)
    )
    page = landing(entry)
    title = html_text(entry.title) if page is None else f'<a href="{html_text(href(page))}">{html_text(entry.title)}</a>'
    # The page is in English; the entry's own words are in its language.
    lang = entry.marked_lang()
    own = "" if lang is None else f' lang="{html_text(lang)}"' + (' dir="rtl"' if is_right_to_left(lang) else "")
    return f"""<li id="{html_text(entry.key)}">
<article>
<h2{own}>{title}</h2>
<p class="date">{_time(entry.date)}</p>
{index_provenance(entry)}<p class="summary"{own}>{html_text(entry.summary)}</p>
<ul class="downloads">
{links}
</ul>
</article>
</li>"""


def index_provenance(entry: Entry) -> str:
    """The entry's author, publisher and rights as a line of the index (the rights linked to
    the license); nothing when none is set."""
    parts = []
    if entry.author is not None:
        parts.append(f'by <span class="author">{html_text(entry.author)}</span>')
    if entry.publisher is not None:
        parts.append(f'<span class="publisher">{html_text(entry.publisher)}</span>')
    rights = None if entry.rights is None else f'<span class="rights">{html_text(entry.rights)}</span>'
    if entry.license_url is not None:
        rights = f'<a href="{html_text(entry.license_url)}" rel="license">{rights or "license"}</a>'
    if rights is not None:
        parts.append(rights)
    return f'<p class="provenance">{" · ".join(parts)}</p>\n' if parts else ""


def _time(moment: datetime) -> str:
    day = utc(moment).strftime("%Y-%m-%d")
    return f'<time datetime="{html_text(iso_timestamp(moment))}">{html_text(day)}</time>'
