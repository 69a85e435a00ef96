"""A reader's search run against the catalog: the request's parameters checked, the
query run read-only and bounded in time, each hit turned into the entry it shows."""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from convert.archive.catalog import file_row_problem, has_search_index, open_catalog_readonly
from convert.archive.keys import is_safe_key
from convert.archive.search_index import MATCH_START, SearchHit, plain_query, search_catalog
from convert.defaults import CITATION_EDITIONS, IMAGE_EDITIONS, MAX_QUERY_PREFIXES, MAX_QUERY_WORDS, SEARCH_TIME_LIMIT
from convert.errors import QueryError
from convert.layout import CATALOG_NAME, INDEX_NAME, LANDING_NAME
from convert.publish.entries import Entry, catalog_entry, downloads
from convert.publish.search_pages import (
    FTS_SYNTAX,
    MAX_PAGE,
    MAX_QUERY_LENGTH,
    PAGE_SIZE,
    PLAIN_SYNTAX,
    Found,
    SearchPage,
    SearchRequest,
)
from convert.serve.numbers import bounded_int
from convert.web import EDITION_TYPES, href, xml_safe

#: A word of a query, whatever the query language: a run of letters, digits or marks.
_WORD = re.compile(r"\w+")


def search_request(parameters: Mapping[str, str]) -> SearchRequest:
    """The request that query parameters `q` and `page` make; QueryError for a query longer
    than MAX_QUERY_LENGTH, an FTS5 query (`syntax=fts`) costlier than query_cost_problem
    allows, or a page that is not a
    whole number from 1 to MAX_PAGE (of any number of digits). A missing
    or empty page (OpenSearch's `{startPage?}` left out) is the first. Without `q`, the
    query is `query`: OPDS 2.0 search templates always name their keywords so
    (drafts.opds.io/opds-2.0, section 3), and opds.json's search link does. The query is
    plain text unless `syntax` is `fts` (request_syntax)."""
    query = parameters.get("q", parameters.get("query", ""))
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    syntax = request_syntax(parameters)
    # A plain query quotes every word and keeps at most PLAIN_QUERY_PREFIXES prefixes itself;
    # an FTS5 query says what it does, so its cost is counted before it takes a search slot.
    problem = query_cost_problem(query) if syntax == FTS_SYNTAX else None
    if problem is not None:
        raise QueryError(problem)
    page = bounded_int(parameters.get("page", "").strip() or "1", len(str(MAX_PAGE)))
    if page is None or not 1 <= page <= MAX_PAGE:
        raise QueryError(f"page must be a whole number from 1 to {MAX_PAGE}")
    return SearchRequest(xml_safe(query), page, syntax)


def request_syntax(parameters: Mapping[str, str]) -> str:
    """FTS_SYNTAX when the parameter `syntax` asks for it; else (missing, or anything else) PLAIN_SYNTAX."""
    return FTS_SYNTAX if parameters.get("syntax", "").strip().lower() == FTS_SYNTAX else PLAIN_SYNTAX


def refused_request(parameters: Mapping[str, str]) -> SearchRequest:
    """What a page that says why a request was refused shows of it: the query (cut to
    MAX_QUERY_LENGTH) and its language, on the first page."""
    query = parameters.get("q", parameters.get("query", ""))[:MAX_QUERY_LENGTH]
    return SearchRequest(xml_safe(query), 1, request_syntax(parameters))


def query_cost_problem(query: str) -> str | None:
    """Why the FTS5 query `query` (`syntax=fts`) would cost too much to run, or None: more than MAX_QUERY_PREFIXES prefix searches (each `*`: a prefix reads every
    indexed word it begins, NEAR and `^` groups of them multiply that) or more than
    MAX_QUERY_WORDS words. SEARCH_TIME_LIMIT still stops what gets through."""
    prefixes = query.count("*")
    if prefixes > MAX_QUERY_PREFIXES:
        return f"the query has {prefixes} prefix searches (*); at most {MAX_QUERY_PREFIXES} are allowed"
    words = len(_WORD.findall(query))
    if words > MAX_QUERY_WORDS:
        return f"the query has {words} words; at most {MAX_QUERY_WORDS} are allowed"
    return None


def run_search(dist: Path, request: SearchRequest, *, time_limit: float = SEARCH_TIME_LIMIT) -> SearchPage | None:
    """The page of results `request` asks for, from the catalog of `dist` opened read-only;
    None when there is no catalog or it has no search index. A plain-text query becomes an
    FTS5 expression through plain_query; an empty query, or one with no word, matches
    nothing. Raises QueryError for an FTS5 query it cannot parse, sqlite3.Error when the
    catalog cannot be read or the search takes longer than `time_limit` seconds."""
    if not (dist / CATALOG_NAME).is_file():
        return None
    connection = open_catalog_readonly(dist)
    try:
        if not has_search_index(connection):
            return None
        expression = request.query if request.syntax == FTS_SYNTAX else plain_query(request.query)
        if not expression.strip():
            return SearchPage(request, 0, ())
        results = search_catalog(connection, expression, limit=PAGE_SIZE, offset=request.offset,
                                 deadline=time.monotonic() + time_limit)
    finally:
        connection.close()
    return SearchPage(request, results.total, tuple(found(dist, hit) for hit in results.hits))


def can_search(dist: Path) -> bool:
    """True when `dist` has a catalog with a search index. Raises sqlite3.Error when the
    catalog cannot be read."""
    if not (dist / CATALOG_NAME).is_file():
        return False
    connection = open_catalog_readonly(dist)
    try:
        return has_search_index(connection)
    finally:
        connection.close()


def found(dist: Path, hit: SearchHit) -> Found:
    """The result one hit shows. What the catalog holds is not trusted: a build date that is
    not a timestamp shows none, a file listed anywhere but where seedpress puts it is
    not linked, and a key seedpress never makes gets no path in dist."""
    entry = catalog_entry(hit.key, hit.title, hit.identifier, hit.summary, hit.created,
                          [file for file in hit.files if (file[0] in EDITION_TYPES or file[0] in IMAGE_EDITIONS or file[0] in CITATION_EDITIONS)
                           and is_safe_key(hit.key)
                           and file_row_problem(hit.key, *file) is None])
    # The section with more matches; the summary when neither has any (the title matched).
    if hit.commentary_snippet.count(MATCH_START) > hit.summary_snippet.count(MATCH_START):
        section, snippet = "commentary", hit.commentary_snippet
    else:
        section, snippet = "summary", hit.summary_snippet
    return Found(entry, hit.lang, section, snippet, title_link(dist, entry))


def title_link(dist: Path, entry: Entry) -> str:
    """The seed's landing page when its folder has one, else its first edition in display order."""
    landing = f"{entry.key}/{LANDING_NAME}"
    if is_safe_key(entry.key) and is_regular_file(dist / entry.key / LANDING_NAME):
        return href(landing)
    editions = downloads(entry)
    if editions:
        return href(editions[0].path)
    return f"{INDEX_NAME}#{entry.key}" if is_safe_key(entry.key) else INDEX_NAME


def is_regular_file(path: Path) -> bool:
    """True for a regular file reached without a symlink on the way (as serve would serve it)."""
    try:
        return (not stat.S_ISLNK(os.lstat(path.parent).st_mode)) and stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
