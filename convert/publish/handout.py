"""Write the hand-out into dist (DESIGN §6, §11): every page of the index and of both feeds,
and SHA256SUMS, each only when its bytes change.

Everything here is written from the entries the caller gives (the catalog's
good seeds) and the archive's title and base URL (seedpress.toml's [archive]),
nothing else: no clock, no directory scan, so the same entries always give the
same bytes and an unchanged archive rewrites nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache, partial
from pathlib import Path

from convert.document.labels import labels
from convert.editions.cover import favicon_svg
from convert.files import read_regular, write_if_changed
from convert.layout import (
    BROWSE_GROUPS,
    FAVICON_NAME,
    FEED_NAME,
    HANDOUT_OPTIONS_NAME,
    INDEX_NAME,
    SUMS_NAME,
    browse_name,
)
from convert.publish.browse_pages import render_browse_group, render_facet_index
from convert.publish.entries import STATIC_SEARCH, Entry, HandoutOptions, check_entry, newest_first, oldest_first
from convert.publish.facets import FacetIndex, FacetLink, facet_links
from convert.publish.index_page import SEARCH_SCRIPT, SEARCH_SCRIPT_NAME, index_item, render_index
from convert.publish.opds1 import feed_entry, render_feed
from convert.publish.opds2 import JSON_FEED_NAME, json_publication, render_json_feed
from convert.publish.paging import PAGE_SIZE, PageRecord, Pages, old_pages
from convert.publish.stamp import handout_salt

#: The archive's icon, served as dist/favicon.svg: a cover in miniature, in the cover's colours.
FAVICON = favicon_svg()


def write_handout(dist: Path, entries: Sequence[Entry], options: HandoutOptions = HandoutOptions()) -> list[str]:
    """Write the hand-out into dist atomically, each file only if its bytes changed; return
    the names actually written (and removed: pages no longer needed).

    index.html, opds.xml and opds.json are the newest page of each; older pages are
    numbered from the oldest (Pages), so one new seed rewrites at most three documents
    of each. Each facet value (a language, a year, a month, an author, a tag) has its
    own three, paged the same way, and each facet group its browse page: one new seed
    rewrites at most three documents of each for each value it has. Files of a value no
    title has any more (a title withdrawn, an author corrected) are removed. An older page whose inputs are those it was last written from, and whose
    file still holds what was written, is not even rendered (PageRecord). Every entry is checked
    first (safe key, aware date, plain relative paths, hex digests); a ValueError for a
    bad one leaves dist untouched.
    """
    dist = Path(dist)
    checked(entries)
    keys = [entry.key for entry in entries]
    if len(set(keys)) != len(keys):
        raise ValueError(f"two entries share a key: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
    pages = Pages(oldest_first(entries))
    dist.mkdir(parents=True, exist_ok=True)
    written = [name for name, data in ((SUMS_NAME, render_sums(newest_first(entries))),
                                       (SEARCH_SCRIPT_NAME, SEARCH_SCRIPT), (FAVICON_NAME, FAVICON))
               if write_if_changed(dist / name, data)]
    write_if_changed(dist / HANDOUT_OPTIONS_NAME, options_record(options))
    record = PageRecord.read(dist, handout_salt(options))
    wanted = {SUMS_NAME}
    index = FacetIndex(pages.entries)
    # The start page lists every facet value with its count: it is rendered from those too.
    whole = index.digest()
    for number in pages.numbers():
        page = pages.page(number)
        # Worked out only for a page that is rendered: most are held by the record.
        links = cache(partial(facet_links, index, page, active=None, whole=number == pages.last))
        inputs = pages.fingerprint(number) + (whole if number == pages.last else "")
        for start, render in _renderers(links, render_index):
            _write_page(dist, record, pages.name(start, number), inputs, wanted, written,
                        partial(render, page, options, pages=pages, number=number))
    for facet in index.facets():
        listed = Pages(index.members[facet])
        for number in listed.numbers():
            page = listed.page(number)
            # A value's pages hold only its own titles (oldest first, as the archive's): one
            # new title rewrites its start page and at most two more, as for the archive.
            links = cache(partial(facet_links, index, page, active=facet, whole=False,
                                  count_active=number == listed.last))
            inputs = repr((facet.group, facet.value, listed.fingerprint(number)))
            for start, render in _renderers(links, render_facet_index):
                _write_page(dist, record, listed.name(facet.start(start), number), inputs, wanted, written,
                            partial(render, page, options, pages=listed, number=number, listing=facet))
    for group in BROWSE_GROUPS:
        inputs = index.digest(("year", "month") if group == "year" else (group,))
        _write_page(dist, record, browse_name(group), inputs, wanted, written,
                    partial(render_browse_group, group, index, options))
    for stale in sorted(set(old_pages(dist)) - wanted):
        (dist / stale).unlink(missing_ok=True)
        written.append(stale)
    record.write(wanted)
    return written


def render_newest_ahead(entries: Sequence[Entry], options: HandoutOptions = HandoutOptions()) -> None:
    """Render the index item, Atom entry and OPDS 2.0 publication of the entries on the
    archive's last two pages, which a new seed renders again (its start page, and the page
    before when the new seed opens a page); once_per_entry keeps them for the hand-out,
    which a run works out on a thread while its workers build (jobs._prepare_handout).
    The newest titles are most of its facets' newest too: their year, month, language."""
    words = labels(options.lang)
    for entry in oldest_first(entries)[-2 * PAGE_SIZE:]:
        index_item(entry, words)
        feed_entry(entry, options)
        json_publication(entry, options)


def checked(entries: Sequence[Entry]) -> None:
    """check_entry on each of `entries`, but an entry object already checked (by the last
    call: published_entries gives the same objects again for the rows that stayed the
    same) is not checked again. An Entry is frozen: what was checked stays so."""
    global _checked
    known, now_checked = _checked, {}
    for entry in entries:
        if known.get(id(entry)) is not entry:
            check_entry(entry)
        now_checked[id(entry)] = entry
    _checked = now_checked


#: The entries the last call of checked checked, by id (each held, so its id is not reused).
_checked: dict[int, Entry] = {}


def _renderers(links: Callable[[], list[FacetLink]], render_page: Callable[..., bytes]) -> tuple:
    """The OPDS 1.2 feed, OPDS 2.0 feed and HTML page of one page, by the name each starts
    with; the feeds with the facet links `links()` gives."""
    return ((FEED_NAME, lambda *given, **named: render_feed(*given, facets=links(), **named)),
            (JSON_FEED_NAME, lambda *given, **named: render_json_feed(*given, facets=links(), **named)),
            (INDEX_NAME, render_page))


def _write_page(dist: Path, record: PageRecord, name: str, inputs: str, wanted: set[str], written: list[str],
                render: Callable[[], bytes]) -> None:
    """Write the page `name` of the hand-out unless the record holds it as rendered from
    `inputs`; note it as wanted, and as written when its bytes changed."""
    wanted.add(name)
    if record.holds(name, inputs):
        return
    data = render()
    if write_if_changed(dist / name, data):
        written.append(name)
    record.wrote(name, inputs, data)


def options_record(options: HandoutOptions) -> bytes:
    """The archive's title, base URL, search and language as dist/.handout.json keeps them."""
    return (json.dumps({"title": options.title, "base_url": options.base_url, "search": options.search,
                        "lang": options.lang}, ensure_ascii=False) + "\n").encode()


def read_options(dist: Path) -> HandoutOptions:
    """The title, base URL, search and language `dist` was last handed out with, so that what other
    commands write (serve's search results and OpenSearch description, the hand-out `restore`
    writes again, the bag's description) names the archive as index.html does, wherever they
    are started. The defaults for an archive handed out before the record existed, or whose
    record cannot be read (the next archive run writes it again). A record is read back as
    the untrusted file it is: HandoutOptions checks every value."""
    try:
        kept = json.loads(read_regular(Path(dist) / HANDOUT_OPTIONS_NAME))
        title, base_url, search = kept["title"], kept["base_url"], kept.get("search", STATIC_SEARCH)
        lang = kept.get("lang", HandoutOptions.lang)
        if not isinstance(title, str) or not (base_url is None or isinstance(base_url, str)):
            raise TypeError("not a record of hand-out options")
        return HandoutOptions(title=title, base_url=base_url, search=search, lang=lang)
    except (OSError, ValueError, KeyError, TypeError):
        return HandoutOptions()


def render_sums(entries: Sequence[Entry]) -> bytes:
    """`sha256sum -c` lines for every edition of every entry, sorted by path."""
    lines = sorted(
        (edition.path, edition.sha256) for entry in entries for edition in entry.editions
    )
    return "".join(f"{digest}  {path}\n" for path, digest in lines).encode("ascii")
