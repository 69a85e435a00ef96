"""The index page, dist/index.html and its pages: every title with its downloads,
and the search box."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from convert.dates import iso_timestamp
from convert.defaults import MAX_QUERY_LENGTH
from convert.document.labels import Labels, file_size, format_number, labels, long_date, titles_count
from convert.document.language import is_right_to_left
from convert.document.provenance import publication_date
from convert.layout import (
    FAVICON_NAME,
    FEED_NAME,
    INDEX_NAME,
    SEARCH_PAGE_PATH,
    SEARCH_SCRIPT_NAME,
    SUMS_NAME,
    THUMBNAIL_EDITION,
)
from convert.publish.entries import (
    FEED_EDITIONS,
    Edition,
    Entry,
    HandoutOptions,
    downloads,
    image,
    landing,
    oldest_first,
    once_per_entry,
    updated,
)
from convert.publish.facets import browse_line
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.publish.paging import PAGE_SIZE, Pages
from convert.web import EDITION_TYPES, PALETTE, href, html_text, page_head, style_policy

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
# Served pages allow exactly this block by its hash, so any edit changes the CSP too. The
# search results page (search_pages.py) uses it too: .index-page rules are the index's own.
STYLE = PALETTE + """body {
  margin: 0 auto; max-width: 46rem; padding: 0.5rem 1rem; overflow-wrap: anywhere;
  font: 1.0625rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
header { border-bottom: 1px solid var(--line); margin-bottom: 0.75rem; }
h1 { font-size: 1.45rem; line-height: 1.25; margin: 0 0 0.25rem; }
h2 { font-size: 1.1rem; line-height: 1.3; margin: 0 0 0.15rem; }
.about, .date, .size, .provenance, .range { color: var(--muted); }
.about { font-size: 0.9rem; margin: 0 0 0.75rem; }
.browse { font-size: 0.9rem; margin: -0.5rem 0 0.6rem; }
.entries { list-style: none; margin: 0; padding: 0; }
.entries > li { border-bottom: 1px solid var(--line); padding: 0.3rem 0; }
.date, .provenance { font-size: 0.85rem; margin: 0; }
.summary { margin: 0.25rem 0 0; }
.downloads { display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: flex-start; list-style: none; margin: 0.3rem 0 0; padding: 0; }
.downloads a, .more > summary {
  display: inline-block; min-height: 2.5rem; padding: 0 0.6rem; line-height: 2.4rem; white-space: nowrap;
  border: 1px solid var(--line); border-radius: 0.4rem; text-decoration: none;
}
.downloads a:hover, .downloads a:focus, .more > summary:hover { border-color: var(--accent); }
.more > summary { color: var(--accent); cursor: pointer; list-style: none; }
.more > summary::-webkit-details-marker { display: none; }
.more > summary::after { content: " \\25B8"; }
.more[open] > summary::after { content: " \\25BE"; }
[dir="rtl"] .more > summary::after { content: " \\25C2"; }
[dir="rtl"] .more[open] > summary::after { content: " \\25BE"; }
.pages a[rel="prev"]::before { content: "\\2190\\00A0"; }
.pages a[rel="next"]::after { content: "\\00A0\\2192"; }
[dir="rtl"] .pages a[rel="prev"]::before { content: "\\2192\\00A0"; }
[dir="rtl"] .pages a[rel="next"]::after { content: "\\00A0\\2190"; }
.downloads .more[open] { flex-basis: 100%; }
.more ul { display: flex; flex-wrap: wrap; gap: 0.4rem; list-style: none; margin: 0.4rem 0 0; padding: 0; }
.size { font-size: 0.8rem; }
.pages { margin: 1rem 0 0; }
.pages ol { display: flex; flex-wrap: wrap; gap: 0.25rem 0.5rem; list-style: none; margin: 0; padding: 0; }
.pages a, .pages [aria-current] { display: inline-block; min-width: 2.5rem; min-height: 2.5rem; line-height: 2.5rem; text-align: center; }
.pages [aria-current] { font-weight: 700; border-bottom: 3px solid var(--accent); }
.range { font-size: 0.9rem; margin: 0.5rem 0 0; }
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
.index-page .search { flex-wrap: nowrap; margin: 0 0 0.5rem; }
.index-page .search label {
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap;
}
.index-page .search input { min-width: 0; }
.index-page .entries article.with-thumb { display: grid; grid-template-columns: auto 1fr; column-gap: 0.75rem; }
.index-page .entries article.with-thumb > * { grid-column: 2; }
.index-page .entries article.with-thumb > .thumb { grid-column: 1; grid-row: 1 / span 3; float: none; margin: 0.2rem 0 0; }
.index-page .entries article.with-thumb > .downloads { grid-column: 1 / -1; }
.index-page h2 { font-size: 1.05rem; line-height: 1.25; }
/* A title of many lines (or one unbroken word) is cut at three; its landing page has it whole. */
.index-page .entries h2 {
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3; overflow: hidden;
}
/* The summary's first lines: the landing page has it all. One on a phone, so that four titles fit,
   filled to its end ("…" may come inside a word): a web address went whole to the hidden second
   line, and the one shown held the words before it and "…". Where more lines show, a word longer
   than the line is broken where it must be. */
.index-page .entries .summary {
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 1; overflow: hidden;
  font-size: 0.95rem; line-height: 1.4; word-break: break-all;
}
@media (min-width: 30rem) {
  .index-page .entries .summary { -webkit-line-clamp: 2; word-break: normal; overflow-wrap: anywhere; }
}
@media (min-width: 40rem) {
  .index-page .entries article.with-thumb > .downloads { grid-column: 2; }
  .index-page .entries .summary { -webkit-line-clamp: 3; }
}
"""

#: The size (px) the index shows a title's thumbnail at: small enough to leave a phone's
#: width to the title and summary beside it; the file is twice as large, for dense screens.
INDEX_THUMBNAIL_SIZE = (48, 72)

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
    escaped, with links to the other pages, in the language of options.lang (labels.toml).

    Titles are numbered from the oldest, as the pages are (PAGE_SIZE a page), so an older
    page says which titles it holds ("Titles 1–100") and never changes as titles are added;
    only the start page tells of the whole archive ("101–110 of 110")."""
    pages = pages or Pages(oldest_first(entries))
    lang, words = options.lang, labels(options.lang)
    total = len(pages.entries)
    first, last = (number - 1) * PAGE_SIZE + 1, min(number * PAGE_SIZE, total)
    shown = {"first": format_number(first, lang), "last": format_number(last, lang), "total": format_number(total, lang)}
    if number == pages.last:
        count = (words.range_of.format(**shown) if pages.last > 1
                 else titles_count(total, lang, shown["total"]))
        changed = updated(pages.entries)
        about = f"{html_text(count)} · {_label_with_time(words.updated, changed, long_date(changed, lang))}"
    else:
        about = f'<a href="{INDEX_NAME}">{html_text(words.newest)}</a> · {html_text(words.range.format(**shown))}'
    # The feed and the checksums are for programs and the careful: in the footer, where a phone
    # does not scroll past them to reach the first title.
    machine = (
        f'<a href="{FEED_NAME}" type="{html_text(OPDS_ACQUISITION_TYPE)}">{html_text(words.catalog)}</a> · '
        f'<a href="{SUMS_NAME}" type="text/plain">SHA256SUMS</a>'
    )
    items = "\n".join(index_item(entry, words) for entry in entries)
    listing = (f'<ol class="entries" reversed start="{last}">\n{items}\n</ol>' if entries
               else f"<p>{html_text(words.nothing_yet)}</p>")
    head_links = "".join(
        f'\n<link rel="{rel}" href="{pages.name(INDEX_NAME, target)}">'
        for rel, target in (("next", pages.older(number)), ("prev", pages.newer(number))) if target is not None)
    page_title = "" if number == pages.last else f" · {words.page.format(number=format_number(number, lang))}"
    direction = ' dir="rtl"' if is_right_to_left(lang) else ""
    command = "<code>sha256sum -c SHA256SUMS</code>"
    page = f"""<!DOCTYPE html>
<html lang="{html_text(lang)}"{direction}>
<head>
{page_head(CONTENT_SECURITY_POLICY, icon=FAVICON_NAME)}<title>{html_text(options.title)}{html_text(page_title)}</title>
<link rel="alternate" type="{html_text(OPDS_ACQUISITION_TYPE)}" href="{FEED_NAME}" title="{html_text(words.catalog)}">{head_links}
<style>{STYLE}</style>
<script src="{SEARCH_SCRIPT_NAME}" defer></script>
</head>
<body class="index-page">
<header>
<h1>{html_text(options.title)}</h1>
<p class="about">{about}</p>
{browse_line(lang)}
</header>
<main>
<form class="search" id="search" role="search" action="{SEARCH_PAGE_PATH}" method="get">
<label for="search-query">{html_text(words.search_archive)}</label>
<input id="search-query" name="q" type="search" maxlength="{MAX_QUERY_LENGTH}" required placeholder="{html_text(words.search_archive)}">
<button type="submit">{html_text(words.search)}</button>
</form>
<div id="search-results" class="search-results" aria-live="polite" hidden{_search_words(words)}></div>
{listing}
</main>
{page_navigation(pages, number, words, lang)}<footer>
<p>{html_text(words.index_about)}
{html_text(words.check_downloads).replace("{command}", command)}</p>
<p class="machine">{machine}</p>
</footer>
</body>
</html>
"""
    return page.encode("utf-8")


def page_navigation(pages: Pages, number: int, words: Labels, lang: str) -> str:
    """The page numbers around this page, with Newer and Older links, when there is more than
    one page; newest first, as the titles are. A page knows only what its file may depend on
    without changing as titles are added (paging.Pages.fingerprint): its own number, its
    neighbours (the newer one may be the start page), the oldest page and the start page."""
    if pages.last == 1:
        return ""
    newer, older = pages.newer(number), pages.older(number)
    shown = sorted({n for n in (newer, number, older, 1) if n is not None}, reverse=True)
    if number == pages.last:
        shown = sorted({*range(max(1, number - 2), number + 1), 1}, reverse=True)
    items = []
    if newer is not None:
        items.append(f'<li><a rel="prev" href="{pages.name(INDEX_NAME, newer)}">{html_text(words.newer)}</a></li>')
        if newer != pages.last:
            items.append(f'<li><a href="{INDEX_NAME}">{html_text(words.newest)}</a></li>')
    previous = None
    for shown_number in shown:
        if previous is not None and previous - shown_number > 1:
            items.append('<li aria-hidden="true">…</li>')
        text = html_text(format_number(shown_number, lang))
        label = html_text(words.page.format(number=format_number(shown_number, lang)))
        if shown_number == number:
            items.append(f'<li><span aria-current="page">{text}</span></li>')
        else:
            items.append(f'<li><a href="{pages.name(INDEX_NAME, shown_number)}" aria-label="{label}">{text}</a></li>')
        previous = shown_number
    if older is not None:
        items.append(f'<li><a rel="next" href="{pages.name(INDEX_NAME, older)}">{html_text(words.older)}</a></li>')
    return f'<nav class="pages" aria-label="{html_text(words.pages)}"><ol>\n' + "\n".join(items) + "\n</ol></nav>\n"


def _search_words(words: Labels) -> str:
    """The words search.js writes around the results, in the page's language: data attributes
    of the results' panel, each with its {query} or {count} left for the script to fill."""
    attributes = (("locale", words.language), ("results", words.search_results), ("titles", words.titles),
                  ("title-one", words.title_one), ("more", words.show_more), ("range-of", words.range_of))
    return "".join(f' data-{name}="{html_text(text)}"' for name, text in attributes)


def download_link(edition: Edition, words: Labels) -> str:
    """One download: the edition's name (the source text in the reader's words) and size."""
    media_type, name = EDITION_TYPES[edition.name]
    name = words.source_text if edition.name == "txt" else name
    return (f'<a href="{html_text(href(edition.path))}" type="{html_text(media_type)}" download>'
            f'{html_text(name)} <span class="size" dir="auto">{html_text(file_size(edition.size, words.language))}</span></a>')


def download_line(entry: Entry, words: Labels) -> str:
    """The entry's one line of downloads: the EPUB and the PDF (what an e-reader reads, as
    in the feeds), then every other edition behind a "more formats" disclosure."""
    editions = downloads(entry)
    main = sorted((e for e in editions if e.name in FEED_EDITIONS), key=lambda e: FEED_EDITIONS.index(e.name))
    rest = [edition for edition in editions if edition.name not in FEED_EDITIONS]
    items = [f"<li>{download_link(edition, words)}</li>" for edition in main]
    if rest:
        more = "\n".join(f"<li>{download_link(edition, words)}</li>" for edition in rest)
        items.append(f'<li class="more-formats"><details class="more"><summary>{html_text(words.more_formats)}</summary>\n'
                     f"<ul>\n{more}\n</ul></details></li>")
    return '<ul class="downloads">\n' + "\n".join(items) + "\n</ul>"


def index_item(entry: Entry, words: Labels | None = None) -> str:
    """The entry as an item of the index's list, in the page's language (`words`)."""
    return _index_item(entry, words or labels(HandoutOptions.lang))


@once_per_entry
def _index_item(entry: Entry, words: Labels) -> str:
    page = landing(entry)
    title = html_text(entry.title) if page is None else f'<a href="{html_text(href(page))}">{html_text(entry.title)}</a>'
    # The page is in the archive's language; the entry's own words are in its language.
    lang = entry.marked_lang()
    # Its direction is its own too: a left-to-right title on a right-to-left page keeps its start.
    page_rtl = is_right_to_left(words.language)
    if lang is None:
        own = ' dir="auto"' if page_rtl else ""
    else:
        own = f' lang="{html_text(lang)}"' + (' dir="rtl"' if is_right_to_left(lang) else ' dir="ltr"' if page_rtl else "")
    thumbnail = index_thumbnail(entry)
    return f"""<li id="{html_text(entry.key)}">
<article{' class="with-thumb"' if thumbnail else ""}>
{thumbnail}<h2{own}>{title}</h2>
<p class="date">{_entry_date(entry, words)}</p>
{index_provenance(entry, words)}<p class="summary"{own}>{html_text(entry.summary)}</p>
{download_line(entry, words)}
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


def index_provenance(entry: Entry, words: Labels | None = None) -> str:
    """The entry's author, publisher and rights as a line of the index in the page's language
    (the rights linked to the license); nothing when none is set."""
    words = words or labels(HandoutOptions.lang)
    parts = []
    if entry.author is not None:
        before, _, after = words.by.partition("{author}")
        parts.append(f'{html_text(before)}<span class="author"><bdi>{html_text(entry.author)}</bdi></span>'
                     f'{html_text(after)}')
    if entry.publisher is not None:
        parts.append(f'<span class="publisher"><bdi>{html_text(entry.publisher)}</bdi></span>')
    rights = None if entry.rights is None else f'<span class="rights"><bdi>{html_text(entry.rights)}</bdi></span>'
    if entry.license_url is not None:
        rights = f'<a href="{html_text(entry.license_url)}" rel="license">{rights or html_text(words.license)}</a>'
    if rights is not None:
        parts.append(rights)
    return f'<p class="provenance">{" · ".join(parts)}</p>\n' if parts else ""


def _entry_date(entry: Entry, words: Labels) -> str:
    """The publication date a person gave, else the build date said as "archived", each written
    out in the page's language as the landing page writes it in the title's."""
    if entry.published is not None:
        given = publication_date(entry.published)
        shown = long_date(datetime(given.year, given.month, given.day, tzinfo=UTC), words.language)
        return f'<time datetime="{html_text(entry.published)}">{html_text(shown)}</time>'
    return _label_with_time(words.archived, entry.date, long_date(entry.date, words.language))


def _label_with_time(label: str, moment: datetime, shown: str) -> str:
    """A label with a {date} ("updated {date}") filled in by `shown`, the day of `moment`, as <time>."""
    before, _, after = label.partition("{date}")
    time = f'<time datetime="{html_text(iso_timestamp(moment))}">{html_text(shown)}</time>'
    return f"{html_text(before)}{time}{html_text(after)}"
