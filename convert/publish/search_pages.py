"""The pages of a search's answer (DESIGN §11): /search (HTML), /search.atom (OPDS 1.2),
/search.json (OPDS 2.0) and /opensearch.xml, rendered from a page of results
(serve/search_query.py runs the query).

A query is plain text (search_index.plain_query: words, "quoted phrases", `word*`), or with
`syntax=fts` FTS5 query syntax (sqlite.org/fts5.html#full_text_query_syntax), over the title,
the whole summary and the whole commentary of every seed with a good build, run against the
catalog opened read-only. A query that cannot be run gets the same page, feed or document
with the reason in it (SearchPage.problem), never a bare error. Every text a page shows is escaped; a match is highlighted by
escaping the snippet's text and wrapping the ranges the index marked with control
characters (catalog.MATCH_START, MATCH_END), never by trusting markup.

Links are relative to the top of dist, as in index.html and opds.xml, so that the answers
stay right behind a proxy that serves the archive under a path of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlencode

from lxml import etree

from convert import defaults
from convert.archive.search_index import MATCH_END, MATCH_START, TOKEN_BREAK
from convert.dates import iso_timestamp
from convert.document.language import same_language
from convert.layout import (
    FAVICON_NAME,
    FEED_NAME,
    INDEX_NAME,
    JSON_FEED_NAME,
    OPENSEARCH_NAME,
    SEARCH_FEED_PATH,
    SEARCH_JSON_PATH,
    SEARCH_PAGE_PATH,
)
from convert.publish.entries import ARCHIVE_TITLE, Entry, HandoutOptions, downloads, updated
from convert.publish.index_page import STYLE
from convert.publish.opds1 import (
    ATOM,
    DC,
    FEED_ID,
    OPDS,
    OPDS_ACQUISITION_TYPE,
    OPENSEARCH_TYPE,
    add_generator,
    feed_entry,
)
from convert.publish.opds2 import BOOK_TYPE, OPDS2_TYPE, SEARCH_TEMPLATE, json_acquisition, json_collection, json_images
from convert.web import EDITION_TYPES, href, html_text, human_size, page_head, style_policy, xml_safe

OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"

#: Results on one page of every answer.
PAGE_SIZE = 20

#: The longest query answered, in characters; a longer one is refused (400).
MAX_QUERY_LENGTH = defaults.MAX_QUERY_LENGTH

#: The last page anyone may ask for: 200,000 results in.
MAX_PAGE = 10_000

#: The query languages: plain text (the default) and FTS5 query syntax (`syntax=fts`).
PLAIN_SYNTAX, FTS_SYNTAX = "plain", "fts"

#: What each section of a document is called beside a snippet of it.
SECTION_LABELS = {"summary": "Summary of the original article", "commentary": "Commentary"}

#: The results page's styles: the index page's (its palette and search form), and the
#: highlights and page links.
STYLE_RULES = """
h2 a { text-decoration: none; }
mark { background: #ffe27a; color: #1d2228; padding: 0 0.1em; }
.section { color: var(--muted); font-size: 0.85rem; font-weight: 600; }
.problem { padding: 0.5rem 0.75rem; border-left: 0.25rem solid #b3261e; }
.pages { display: flex; justify-content: space-between; gap: 1rem; list-style: none; margin: 1rem 0; padding: 0; }
.pages a { display: inline-block; min-height: 2.75rem; padding: 0.45rem 0.75rem; line-height: 1.8; }
"""

SEARCH_STYLE = STYLE + STYLE_RULES


#: What a results page may load: its own <style> block (by hash), and its form may send
#: a new search to this server; nothing else.
SEARCH_POLICY = style_policy(SEARCH_STYLE, "img-src 'self'", "base-uri 'none'", "form-action 'self'")


@dataclass(frozen=True)
class SearchRequest:
    """What a client asked for: the query and which page of results."""

    query: str
    """The query, as sent (with characters no page can show replaced by U+FFFD)."""
    page: int
    """The page of results, from 1."""
    syntax: str = PLAIN_SYNTAX
    """The query language: PLAIN_SYNTAX or FTS_SYNTAX."""

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


@dataclass(frozen=True)
class Found:
    """One seed on a page of results."""

    entry: Entry
    """The seed as the hand-out shows it: title, identifier, date, editions."""
    lang: str
    """The document's language, a BCP 47 tag."""
    section: str
    """The section the snippet is from: "summary" or "commentary"."""
    snippet: str
    """Words of that section around the matches, marked as the index gave them."""
    link: str
    """Where its title leads: its landing page when it has one, else its PDF or another edition."""


@dataclass(frozen=True)
class SearchPage:
    """One page of the answer to a search."""

    request: SearchRequest
    total: int
    """How many seeds match in all."""
    found: tuple[Found, ...]
    problem: str | None = None
    """Why the query could not be run (one line), or None."""

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    @property
    def next_page(self) -> int | None:
        return self.request.page + 1 if self.request.page < self.last_page else None

    @property
    def previous_page(self) -> int | None:
        return min(self.request.page - 1, self.last_page) if self.request.page > 1 else None


def search_href(path: str, request: SearchRequest, page: int) -> str:
    """The link to page `page` of `request`'s results at `path`, in the same query language."""
    parameters = {"q": request.query, "page": page}
    if request.syntax != PLAIN_SYNTAX:
        parameters["syntax"] = request.syntax
    return f"{path}?{urlencode(parameters)}"


def highlighted(snippet: str) -> str:
    """The snippet as HTML: its text escaped, each range the index marked in <mark>. The
    token breaks the index put between CJK characters are dropped (with any zero-width
    space the text had: it shows nothing)."""
    html, marked = [], False
    for piece in re.split(f"([{MATCH_START}{MATCH_END}])", _close_after_marks(snippet.replace(TOKEN_BREAK, ""))):
        if piece == MATCH_START:
            html.append("" if marked else "<mark>")
            marked = True
        elif piece == MATCH_END:
            html.append("</mark>" if marked else "")
            marked = False
        else:
            html.append(html_text(piece))
    if marked:
        html.append("</mark>")
    return "".join(html).replace("</mark><mark>", "")


def _close_after_marks(snippet: str) -> str:
    """The snippet with each match's end moved past the combining marks that follow it.
    unicode61 counts a mark (a Devanagari or Thai vowel sign) as a separator, so a match
    ends before it, and a <mark> closed there would tear the mark off its letter."""
    parts = snippet.split(MATCH_END)
    for index in range(len(parts) - 1):
        after = parts[index + 1]
        marks = 0
        while marks < len(after) and unicodedata.category(after[marks]).startswith("M"):
            marks += 1
        parts[index], parts[index + 1] = parts[index] + after[:marks], after[marks:]
    return MATCH_END.join(parts)


def render_page(result: SearchPage, options: HandoutOptions = HandoutOptions()) -> bytes:
    """The HTML results page: the archive's title, a search form, the matches best first with
    their snippets and downloads, and links to the pages before and after."""
    request = result.request
    query = request.query
    if result.problem is not None:
        about = f'<span class="problem" role="alert">This search could not be run: {html_text(result.problem)}</span>'
    elif not query.strip():
        about = "Type words to look for in the titles, summaries and commentaries."
    else:
        count = f"{result.total} {'title' if result.total == 1 else 'titles'}"
        about = f"{html_text(count)} found · page {request.page} of {result.last_page}"
    items = "\n".join(result_item(item) for item in result.found)
    if result.found:
        listing = f'<ol class="entries" start="{request.offset + 1}">\n{items}\n</ol>'
    elif query.strip() and result.problem is None:
        listing = "<p>Nothing found.</p>"
    else:
        listing = ""
    page_links = []
    if result.previous_page is not None:
        page_links.append(f'<li><a rel="prev" href="{html_text(search_href(SEARCH_PAGE_PATH, request, result.previous_page))}">'
                          "← Previous</a></li>")
    if result.next_page is not None:
        page_links.append(f'<li><a rel="next" href="{html_text(search_href(SEARCH_PAGE_PATH, request, result.next_page))}">'
                          "Next →</a></li>")
    pages = f'<nav aria-label="Result pages"><ul class="pages">\n{chr(10).join(page_links)}\n</ul></nav>' \
        if page_links else ""
    title = f"{query} – search" if query.strip() else "Search"
    feed_link = (f'<link rel="alternate" type="{html_text(OPDS_ACQUISITION_TYPE)}" '
                 f'href="{html_text(search_href(SEARCH_FEED_PATH, request, request.page))}" title="These results as OPDS">\n'
                 if query.strip() else "")
    syntax_field = (f'<input type="hidden" name="syntax" value="{html_text(request.syntax)}">\n'
                    if request.syntax != PLAIN_SYNTAX else "")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
{page_head(SEARCH_POLICY, icon=FAVICON_NAME)}<meta name="robots" content="noindex">
<title>{html_text(title)} – {html_text(options.title)}</title>
<link rel="search" type="{OPENSEARCH_TYPE}" href="{OPENSEARCH_NAME}" title="{html_text(options.title)}">
{feed_link}<style>{SEARCH_STYLE}</style>
</head>
<body>
<header>
<h1><a href="{INDEX_NAME}"{_archive_lang(options)}>{html_text(options.title)}</a></h1>
<form class="search" action="{SEARCH_PAGE_PATH}" method="get" role="search">
<label for="q">Search the titles, summaries and commentaries</label>
<input id="q" name="q" type="search" value="{html_text(query)}" maxlength="{MAX_QUERY_LENGTH}">
{syntax_field}<button type="submit">Search</button>
</form>
<p class="about">{about}</p>
</header>
<main>
{listing}
{pages}
</main>
<footer>
<p>Type words as you read them: every word must appear, in any case, with or without accents
(<code>Blair's</code>, <code>U.S.</code> and <code>covid-19</code> match as written);
<code>"two words"</code> matches a phrase and <code>word*</code> a beginning.</p>
</footer>
</body>
</html>
"""
    return page.encode("utf-8")


def _archive_lang(options: HandoutOptions) -> str:
    """The archive's title is in the index's language ([archive] lang), on this English page."""
    if options.title == ARCHIVE_TITLE or same_language(options.lang, "en"):
        return ""  # the default title is English, as this page is
    return f' lang="{html_text(options.lang)}"'


def result_item(item: Found) -> str:
    entry = item.entry
    links = "\n".join(
        f'<li><a href="{html_text(href(edition.path))}" type="{html_text(EDITION_TYPES[edition.name][0])}" download>'
        f'{html_text(EDITION_TYPES[edition.name][1])} <span class="size">{html_text(human_size(edition.size))}</span></a></li>'
        for edition in downloads(entry)
    )
    label = f'<span class="section" lang="en">{html_text(SECTION_LABELS[item.section])}:</span>'
    return f"""<li>
<article lang="{html_text(item.lang)}" dir="auto">
<h2><a href="{html_text(item.link)}">{html_text(entry.title)}</a></h2>
<p class="summary">{label} {highlighted(item.snippet)}</p>
<ul class="downloads" lang="en">
{links}
</ul>
</article>
</li>"""


def render_feed(result: SearchPage, options: HandoutOptions = HandoutOptions()) -> bytes:
    """The results as an OPDS 1.2 acquisition feed with OpenSearch response elements; each
    entry is the one opds.xml has for the seed. Its links stay relative (`options` is taken
    for the one signature every answer has)."""
    request = result.request
    entries = [item.entry for item in result.found]
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM, "dc": DC, "opds": OPDS, "opensearch": OPENSEARCH})
    _atom(feed, "id", f"{FEED_ID}:search:{hashlib.sha256(request.query.encode()).hexdigest()}:{request.page}")
    _atom(feed, "title", f"Search: {request.query}")
    if result.problem is not None:
        _atom(feed, "subtitle", f"This search could not be run: {result.problem}")
    _atom(feed, "updated", iso_timestamp(updated(entries)))
    add_generator(feed)
    _opensearch(feed, "totalResults", str(result.total))
    _opensearch(feed, "itemsPerPage", str(PAGE_SIZE))
    _opensearch(feed, "startIndex", str(request.offset + 1))
    etree.SubElement(feed, f"{{{OPENSEARCH}}}Query", role="request", searchTerms=xml_safe(request.query),
                     startPage=str(request.page))
    _link(feed, "self", search_href(SEARCH_FEED_PATH, request, request.page), OPDS_ACQUISITION_TYPE)
    _link(feed, "start", FEED_NAME, OPDS_ACQUISITION_TYPE)
    _link(feed, "search", OPENSEARCH_NAME, OPENSEARCH_TYPE)
    _link(feed, "alternate", search_href(SEARCH_PAGE_PATH, request, request.page), "text/html")
    _link(feed, "first", search_href(SEARCH_FEED_PATH, request, 1), OPDS_ACQUISITION_TYPE)
    if result.previous_page is not None:
        _link(feed, "previous", search_href(SEARCH_FEED_PATH, request, result.previous_page), OPDS_ACQUISITION_TYPE)
    if result.next_page is not None:
        _link(feed, "next", search_href(SEARCH_FEED_PATH, request, result.next_page), OPDS_ACQUISITION_TYPE)
    for item in result.found:
        entry = feed_entry(item.entry)
        etree.SubElement(entry, f"{{{DC}}}language").text = xml_safe(item.lang)
        feed.append(entry)
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _atom(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM}}}{name}")
    element.text = xml_safe(text)
    return element


def _opensearch(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, f"{{{OPENSEARCH}}}{name}").text = text


def _link(parent: etree._Element, rel: str, target: str, media_type: str) -> None:
    etree.SubElement(parent, f"{{{ATOM}}}link", rel=rel, href=target, type=media_type)


def render_json(result: SearchPage, options: HandoutOptions = HandoutOptions()) -> bytes:
    """The results as an OPDS 2.0 feed (drafts.opds.io/opds-2.0): one publication per seed
    with its editions as acquisition links; no results, a navigation link to the catalog.
    Its links stay relative (`options` is taken for the one signature every answer has)."""
    request = result.request
    links = [
        {"rel": "self", "href": search_href(SEARCH_JSON_PATH, request, request.page), "type": OPDS2_TYPE},
        {"rel": "first", "href": search_href(SEARCH_JSON_PATH, request, 1), "type": OPDS2_TYPE},
    ]
    if result.previous_page is not None:
        links.append({"rel": "previous", "href": search_href(SEARCH_JSON_PATH, request, result.previous_page),
                      "type": OPDS2_TYPE})
    if result.next_page is not None:
        links.append({"rel": "next", "href": search_href(SEARCH_JSON_PATH, request, result.next_page),
                      "type": OPDS2_TYPE})
    links.append({"rel": "search", "href": SEARCH_JSON_PATH + SEARCH_TEMPLATE, "type": OPDS2_TYPE, "templated": True})
    links.append({"rel": "alternate", "href": search_href(SEARCH_PAGE_PATH, request, request.page),
                  "type": "text/html"})
    feed = {
        "metadata": {"title": f"Search: {request.query}", "numberOfItems": result.total,
                     "itemsPerPage": PAGE_SIZE, "currentPage": request.page,
                     **({"description": f"This search could not be run: {result.problem}"}
                        if result.problem is not None else {})},
        "links": links,
        **json_collection([publication(item) for item in result.found], JSON_FEED_NAME),
    }
    return json.dumps(feed, ensure_ascii=False, indent=1).encode("utf-8")


def publication(item: Found) -> dict:
    entry = item.entry
    acquisitions = [json_acquisition(edition, href(edition.path)) for edition in downloads(entry)]
    found = {
        "metadata": {"@type": BOOK_TYPE, "title": entry.title, "identifier": entry.identifier,
                     "language": item.lang, "modified": iso_timestamp(entry.date), "description": entry.summary},
        "links": [*acquisitions, {"rel": "alternate", "href": item.link, "type": "text/html"}],
    }
    images = json_images(entry, HandoutOptions())
    if images:
        found["images"] = images
    return found


#: The most characters OpenSearch 1.1 allows in a description's ShortName, LongName and Description.
SHORT_NAME_LENGTH, LONG_NAME_LENGTH, DESCRIPTION_LENGTH = 16, 48, 1024


def render_description(options: HandoutOptions = HandoutOptions()) -> bytes:
    """The OpenSearch 1.1 description: how to ask for results as OPDS, HTML and OPDS 2.0,
    named by the archive's title (cut to the lengths the specification allows)."""
    description = etree.Element(f"{{{OPENSEARCH}}}OpenSearchDescription", nsmap={None: OPENSEARCH})
    for name, text in (("ShortName", _cut(options.title, SHORT_NAME_LENGTH)),
                       ("LongName", _cut(options.title, LONG_NAME_LENGTH)),
                       ("Description", _cut(f"Search {options.title}: its titles, summaries and commentaries",
                                            DESCRIPTION_LENGTH)),
                       ("InputEncoding", "UTF-8"), ("OutputEncoding", "UTF-8")):
        etree.SubElement(description, f"{{{OPENSEARCH}}}{name}").text = xml_safe(text)
    for media_type, path in ((OPDS_ACQUISITION_TYPE, SEARCH_FEED_PATH), ("text/html", SEARCH_PAGE_PATH), (OPDS2_TYPE, SEARCH_JSON_PATH)):
        etree.SubElement(description, f"{{{OPENSEARCH}}}Url", type=media_type,
                         template=f"{path}?q={{searchTerms}}&page={{startPage?}}")
    return etree.tostring(description, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _cut(text: str, length: int) -> str:
    """`text`, or when it is longer than `length` characters, as many of its first words
    as fit with an ellipsis ("seedpress archive" in 16: "seedpress…"); a first word
    longer than that is cut where it must."""
    if len(text) <= length:
        return text
    head = text[:length - 1]
    if " " in head.strip():
        head = head[:head.rstrip().rindex(" ")]
    return head.rstrip() + "…"
