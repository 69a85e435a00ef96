"""The search endpoints of `seedpress serve`: /search (HTML), /search.atom (OPDS 1.2),
/search.json (OPDS 2.0) and /opensearch.xml, answered from the catalog opened read-only.

Searches run in worker threads of their own, at most SearchSlots.count at a time, so that a
flood of searches can neither slow the file reads nor queue without end.

They name the archive by the title its last archive run handed it out with (dist/.handout.json,
publish/handout.read_options), as index.html does: not by a seedpress.toml of the folder serve
happens to be started in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from convert.defaults import SEARCH_QUEUE_TIMEOUT, SEARCH_TIME_LIMIT, default_jobs
from convert.errors import QueryError
from convert.publish import search_pages as search
from convert.publish.handout import read_options
from convert.publish.opds1 import OPENSEARCH_TYPE
from convert.serve.files import NO_CACHE, not_found, unavailable
from convert.serve.search_query import can_search, refused_request, run_search, search_request

#: The status logged for a search whose client hung up before a slot was free (nginx's 499:
#: no client reads it).
CLIENT_GONE = 499
#: The longest one-line message a 400 answer repeats of what went wrong with a query.
MAX_PROBLEM = 200


class SearchSlots:
    """At most `count` searches at a time, each in a worker thread of this limiter's own; a search
    that finds no slot free within `wait` seconds is not run."""

    def __init__(self, count: int | None = None, wait: float = SEARCH_QUEUE_TIMEOUT):
        self.count = default_jobs() if count is None else count
        self.wait = wait
        self.free = anyio.Semaphore(self.count)
        self.threads = anyio.CapacityLimiter(self.count)

    async def run(self, request: Request, function, *arguments) -> Response:
        """`function(*arguments)` run in a search thread once a slot is free, for a client
        still connected; 503 with Retry-After when no slot is free within `wait` seconds."""
        with anyio.move_on_after(self.wait) as waiting:
            await self.free.acquire()
        # A wait cut short holds no slot: anyio gives back a slot that came with the cancel.
        if waiting.cancelled_caught:
            return unavailable(f"all {self.count} search slots are busy")
        try:
            # A client that left while its search queued gets nothing: a flood of searches
            # whose clients hung up costs no search time, and holds the slot a moment only.
            if await request.is_disconnected():
                return Response(status_code=CLIENT_GONE)
            return await anyio.to_thread.run_sync(function, *arguments, limiter=self.threads)
        finally:
            self.free.release()


def search_endpoint(root: Path, render, media_type: str, slots: SearchSlots):
    """The endpoint that answers a search with `render(SearchPage)` as `media_type`, in one of
    `slots`: the catalog is read blocking, in a worker thread."""

    async def answer(request: Request) -> Response:
        try:
            search_request(request.query_params)
        except QueryError:
            # Refused without taking a slot: search_response answers 400 before it opens anything.
            return search_response(root, request, render, media_type)
        return await slots.run(request, search_response, root, request, render, media_type)

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
    return Response(render(result, read_options(root)), status_code=status, media_type=media_type, headers=headers)


def catalog_unavailable(error: sqlite3.Error) -> Response:
    """503 for a catalog that cannot be read now (busy, damaged) or a search stopped at its time limit."""
    if getattr(error, "sqlite_errorname", None) == "SQLITE_INTERRUPT":
        return unavailable(f"the search took longer than {SEARCH_TIME_LIMIT} s")
    return unavailable("the catalog cannot be read")


def search_description_endpoint(root: Path):
    """The endpoint of the OpenSearch description; 404 where there is nothing to search."""

    def answer(request: Request) -> Response:
        try:
            if not can_search(root):
                return not_found()
        except sqlite3.Error as error:
            return catalog_unavailable(error)
        return Response(search.render_description(read_options(root)), media_type=OPENSEARCH_TYPE,
                        headers=NO_CACHE)

    return answer
