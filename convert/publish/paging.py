"""Paging of the index and feeds: which entries each page holds and links, and the
record of what each page was last written from (so an unchanged page is not rendered)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from convert.files import read_regular, write_if_changed
from convert.layout import FACET_FILE, INDEX_NAME, PAGE_FILE, PAGE_RECORD_NAME, page_name
from convert.publish.entries import Entry, updated


class PageRecord:
    """What each page of dist was last rendered from, kept in dist/.handout-pages.json: a
    digest of its inputs and the sha256 of the bytes written. A page whose inputs are the
    same and whose file still holds those bytes need not be rendered again, which keeps
    one new seed at a fraction of a second however many pages the archive has. A page
    edited or removed since, a record that cannot be read, or another version of
    seedpress's code or of the archive's title and base URL: the page is rendered again
    and compared byte for byte, as without a record."""

    NAME = PAGE_RECORD_NAME

    def __init__(self, dist: Path, salt: str, pages: dict[str, list]):
        self.dist, self.salt, self.pages = dist, salt, pages

    @classmethod
    def read(cls, dist: Path, salt: str) -> PageRecord:
        """The record in dist, or an empty one when it is missing, unreadable or made with
        another `salt` (stamp.handout_salt: what a page's bytes depend on besides its inputs,
        the code, tools and options)."""
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
            return [inputs, _file_digest(self.dist / name)] == recorded
        except OSError:
            return False

    def hash_kept_pages(self) -> None:
        """Hash the file of every page the record keeps, ahead of the hand-out's checks
        (holds), which then find each digest kept for the file's state (_file_digest)."""
        for name, recorded in list(self.pages.items()):
            if isinstance(recorded, list) and recorded:
                self.holds(name, recorded[0])

    def wrote(self, name: str, inputs: str, data: bytes) -> None:
        """Note that `name` now holds `data`, rendered from `inputs`."""
        self.pages[name] = [inputs, hashlib.sha256(data).hexdigest()]

    def write(self, names: set[str]) -> None:
        """Keep the record of the pages `names` (the others are gone) in dist."""
        pages = {name: value for name, value in sorted(self.pages.items()) if name in names}
        write_if_changed(self.dist / self.NAME,
                         json.dumps({"salt": self.salt, "pages": pages}, indent=0).encode("ascii"))


def _file_digest(path: Path) -> str:
    """The sha256 of the regular file `path`. A file whose state (inode, size, modification
    and change times) is what it was when this process last hashed it is not read again:
    a run hashes the pages its record keeps on a thread while its workers build
    (jobs._prepare_handout), and its hand-out then only looks at them. Writing a file,
    even in place and to the same size, changes its change time."""
    status = os.stat(path, follow_symlinks=False)
    state = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    known = _hashed.get(str(path))
    if known is not None and known[0] == state:
        return known[1]
    data = read_regular(path)
    digest = hashlib.sha256(data).hexdigest()
    if stat.S_ISREG(status.st_mode) and len(data) == status.st_size:
        _hashed[str(path)] = (state, digest)
    return digest


#: _file_digest's answers, by path: the file's state when it was hashed, and its digest.
_hashed: dict[str, tuple[tuple, str]] = {}


#: Titles on one page of the index and of each feed.
PAGE_SIZE = 100


def page_span(number: int) -> slice:
    """Where page `number` lies in the entries, oldest first: the hand-out's pages and the
    static search's page indexes (sitesearch.py) are cut alike."""
    return slice((number - 1) * PAGE_SIZE, number * PAGE_SIZE)


def page_count(count: int) -> int:
    """How many pages `count` entries fill (one, the start page, when there are none)."""
    return max(1, -(-count // PAGE_SIZE))


def old_pages(dist: Path) -> list[str]:
    """The numbered pages, the facet values' pages and the browse pages of an earlier hand-out in dist."""
    return [path.name for path in dist.iterdir() if PAGE_FILE.fullmatch(path.name) or FACET_FILE.fullmatch(path.name)]


class Pages:
    """The entries, oldest first, cut into pages numbered from the oldest: page 1 holds the
    first PAGE_SIZE, and so on. The last page (1 to PAGE_SIZE entries) is the start
    document itself (index.html, opds.xml, opds.json); every earlier page is full and
    never changes again, but for its link to the next newer one when the start page
    fills up. So one new seed rewrites the start page, and at most the new full page
    and the one before it."""

    def __init__(self, entries: Sequence[Entry]):
        self.entries = list(entries)
        self.last = page_count(len(self.entries))

    def numbers(self) -> range:
        return range(1, self.last + 1)

    def page(self, number: int) -> list[Entry]:
        """The entries of page `number`, newest first."""
        return self.entries[page_span(number)][::-1]

    def name(self, start: str, number: int) -> str:
        """The file of page `number` of the document whose start page is `start`."""
        return start if number == self.last else page_name(start, number)

    def fingerprint(self, number: int) -> str:
        """A digest of everything page `number` is rendered from but the archive's options:
        its entries and the pages it links to; the start page also tells how many titles
        the archive has and when it last changed."""
        linked = [(rel, self.name(INDEX_NAME, target)) for rel, target in page_links(self, number)]
        whole = (len(self.entries), updated(self.entries)) if number == self.last else None
        return hashlib.sha256(repr((number, linked, whole, [entry.digest for entry in self.page(number)])).encode()).hexdigest()

    def older(self, number: int) -> int | None:
        return number - 1 if number > 1 else None

    def newer(self, number: int) -> int | None:
        return number + 1 if number < self.last else None


def page_links(pages: Pages, number: int) -> list[tuple[str, int]]:
    """(rel, page number) of the links a page carries: self, start, first, last, next, previous."""
    links = [("self", number), ("start", pages.last), ("first", pages.last), ("last", 1)]
    if pages.older(number) is not None:
        links.append(("next", pages.older(number)))
    if pages.newer(number) is not None:
        links.append(("previous", pages.newer(number)))
    return links
