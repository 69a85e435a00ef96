"""The search endpoints of `seedpress serve`: /search (HTML), /search.atom (OPDS 1.2),
/search.json (OPDS 2.0) and /opensearch.xml, answered from the catalog opened read-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from convert.defaults import SEARCH_TIME_LIMIT
from convert.errors import QueryError
from convert.publish import search_pages as search
from convert.publish.opds1 import OPENSEARCH_TYPE
from convert.serve.files import NO_CACHE, not_found
from convert.serve.search_query import can_search, refused_request, run_search, search_request

#: The longest one-line message a 400 answer repeats of what went wrong with a query.
MAX_PROBLEM = 200


def search_endpoint(root: Path, render, media_type: str):
    """The endpoint that answers a search with `render(SearchPage)` as `media_type`. A plain
    function, so Starlette runs it in a worker thread: the catalog is read blocking."""

    def answer(request: Request) -> Response:
        return search_response(root, request, render, media_type)

    return answer


def search_response(root: Path, request: Request, render, media_type: str) -> Response:
    """200 with a page of results; 400 with the same page, feed or document saying why, for
    a query that is too long, a page number out of range or an FTS5 query (`syntax=fts`)
    that FTS5 cannot parse; 404 when dist has no catalog with a search index; 503 when the
    catalog cannot be read or the search takes longer than SEARCH_TIME_LIMIT seconds."""
    status = 200
    try:
        result = run_search(root, search_request(request.query_params))
    except QueryError as error:
        problem = " ".join(str(error).split())
        if len(problem) > MAX_PROBLEM:
            problem = problem[:MAX_PROBLEM - 1] + "…"
        try:
            if not can_search(root):
                return not_found()
        except sqlite3.Error as unreadable:
            return catalog_unavailable(unreadable)
        result, status = search.SearchPage(refused_request(request.query_params), 0, (), problem), 400
    except sqlite3.Error as error:
        return catalog_unavailable(error)
    if result is None:
        return not_found()
    headers = dict(NO_CACHE)
    if media_type.startswith("text/html"):
        headers["content-security-policy"] = search.SEARCH_POLICY
    return Response(render(result), status_code=status, media_type=media_type, headers=headers)


def catalog_unavailable(error: sqlite3.Error) -> Response:
    """503 for a catalog that cannot be read now (busy, damaged) or a search stopped at its time limit."""
    if getattr(error, "sqlite_errorname", None) == "SQLITE_INTERRUPT":
        reason = f"the search took longer than {SEARCH_TIME_LIMIT} s"
    else:
        reason = "the catalog cannot be read"
    return PlainTextResponse(f"Service Unavailable: {reason}", status_code=503, headers=NO_CACHE)


def search_description_endpoint(root: Path):
    """The endpoint of the OpenSearch description; 404 where there is nothing to search."""

    def answer(request: Request) -> Response:
        try:
            if not can_search(root):
                return not_found()
        except sqlite3.Error as error:
            return catalog_unavailable(error)
        return Response(search.render_description(), media_type=OPENSEARCH_TYPE, headers=NO_CACHE)

    return answer
