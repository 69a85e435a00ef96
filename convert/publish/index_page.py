"""The index page, dist/index.html and its pages: every title with its downloads,
and the search box."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from convert.dates import day, iso_timestamp
from convert.defaults import MAX_QUERY_LENGTH
from convert.document.language import is_right_to_left
from convert.layout import FEED_NAME, INDEX_NAME, SEARCH_PAGE_PATH, SEARCH_SCRIPT_NAME, SUMS_NAME, THUMBNAIL_EDITION
from convert.publish.entries import Entry, HandoutOptions, downloads, image, landing, oldest_first, updated
from convert.publish.facets import browse_line
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.publish.paging import Pages
from convert.web import EDITION_TYPES, PALETTE, href, html_text, human_size, page_head, style_policy

#: The search form, on the index page and on serve's results page: one set of rules.
SEARCH_FORM_STYLE = """
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
"""

# Colours (web.PALETTE) and layout only; the page must read well at 320 px and in dark mode.
# Served pages allow exactly this block by its hash, so any edit changes the CSP too.
STYLE = PALETTE + """body {
  margin: 0 auto; max-width: 46rem; padding: 1rem; overflow-wrap: anywhere;
  font: 1.0625rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
header { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; }
h2 { font-size: 1.2rem; line-height: 1.3; margin: 0 0 0.25rem; }
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
""" + SEARCH_FORM_STYLE + """.search-results { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
.search-results h2 { font-size: 1rem; }
.search-results h3 { font-size: 1.05rem; margin: 0; }
.search-results li { margin: 0 0 0.75rem; }
.search-results p { margin: 0.25rem 0 0; }
.entries article { display: flow-root; }
.thumb { float: left; margin: 0.2rem 0.75rem 0.25rem 0; border: 1px solid var(--line); }
.search-results button.more {
  min-height: 2.75rem; margin: 0 0 1rem; padding: 0.4rem 1rem; font: inherit;
  color: var(--text); background: var(--page); border: 1px solid var(--line); border-radius: 0.4rem;
}
"""

#: The size (px) the index shows a title's thumbnail at: small enough to leave a phone's
#: width to the title and summary beside it; the file is twice as large, for dense screens.
INDEX_THUMBNAIL_SIZE = (56, 84)

#: What the index page may load: its own <style> block (by hash), and search.js with the
#: Pagefind bundle it loads from this site (modules, a worker, fetched index files). The
#: search form goes to this site only.
CONTENT_SECURITY_POLICY = style_policy(STYLE, "script-src 'self'", "worker-src 'self'", "connect-src 'self'",
                                       "img-src 'self'", "base-uri 'none'", "form-action 'self'")

#: What Pagefind's web worker may do, which runs under its script's own policy (serve sends
#: it): fetch the index files and compile Pagefind's WebAssembly, nothing else.
WORKER_POLICY = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'"




SEARCH_SCRIPT = (Path(__file__).parent / "assets" / SEARCH_SCRIPT_NAME).read_bytes()


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
<script src="{SEARCH_SCRIPT_NAME}" defer></script>
</head>
<body>
<header>
<h1>{html_text(options.title)}</h1>
<p class="about">{about}</p>
{browse_line()}
</header>
<main>
<form class="search" id="search" role="search" action="{SEARCH_PAGE_PATH}" method="get">
<label for="search-query">Search the archive</label>
<input id="search-query" name="q" type="search" maxlength="{MAX_QUERY_LENGTH}" required>
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
{index_thumbnail(entry)}<h2{own}>{title}</h2>
<p class="date">{_entry_date(entry)}</p>
{index_provenance(entry)}<p class="summary"{own}>{html_text(entry.summary)}</p>
<ul class="downloads">
{links}
</ul>
</article>
</li>"""


def index_thumbnail(entry: Entry) -> str:
    """The entry's thumbnail, decorative beside its title (alt=""), at INDEX_THUMBNAIL_SIZE;
    nothing when it has none."""
    found = image(entry, THUMBNAIL_EDITION)
    if found is None:
        return ""
    width, height = INDEX_THUMBNAIL_SIZE
    return (f'<img class="thumb" src="{html_text(href(found.path))}" width="{width}" height="{height}" '
            'alt="" loading="lazy">\n')


def index_provenance(entry: Entry) -> str:
    """The entry's author, publisher and rights as a line of the index (the rights linked to
    the license); nothing when none is set."""
    parts = []
    if entry.author is not None:
        parts.append(f'by <span class="author"><bdi>{html_text(entry.author)}</bdi></span>')
    if entry.publisher is not None:
        parts.append(f'<span class="publisher"><bdi>{html_text(entry.publisher)}</bdi></span>')
    rights = None if entry.rights is None else f'<span class="rights"><bdi>{html_text(entry.rights)}</bdi></span>'
    if entry.license_url is not None:
        rights = f'<a href="{html_text(entry.license_url)}" rel="license">{rights or "license"}</a>'
    if rights is not None:
        parts.append(rights)
    return f'<p class="provenance">{" · ".join(parts)}</p>\n' if parts else ""


def _entry_date(entry: Entry) -> str:
    """The publication date a person gave, else the build date said as "archived"."""
    if entry.published is not None:
        return f'<time datetime="{html_text(entry.published)}">{html_text(entry.published_day())}</time>'
    return f"archived {_time(entry.date)}"


def _time(moment: datetime) -> str:
    return f'<time datetime="{html_text(iso_timestamp(moment))}">{html_text(day(moment))}</time>'
