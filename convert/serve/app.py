"""`seedpress serve`: a read-only HTTP server of dist (DESIGN §6), Starlette under uvicorn.

Only plain names are served: every segment of the raw request path must be a
name the archive could have written (letters, digits, `_`, `-`, `.`, never a
leading dot), decoded exactly once. Hidden files (the catalog, the lock,
moved-aside editions, temp files), `..`, encoded separators, double encoding,
folders and symlinks all get the same 404.

A file is opened once, one path segment at a time from a descriptor of dist,
and what is checked and served is that open file. No symlink is followed,
not even one that stays inside dist: the archive writes none, and a link
followed by name could be swapped between the check and the read.

A connection must send each request's headers within SERVE_HEADER_TIMEOUT
seconds of opening or of its previous answer (HeaderTimeoutProtocol).

Four paths are answers, not files (search.py): /search, /search.atom, /search.json and
/opensearch.xml. Each search reads the catalog through a connection of its own, opened
read-only in the worker thread that answers it and closed there.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sqlite3
import stat
from collections.abc import AsyncIterator, Mapping, Sequence
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes

import anyio.to_thread
import h11
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from convert.publish import search_pages as search
from convert.defaults import SEARCH_TIME_LIMIT, SERVE_HEADER_TIMEOUT
from convert.errors import ConfigError, QueryError
from convert.publish.handout import (
    CONTENT_SECURITY_POLICY, EDITION_TYPES, FEED_NAME, INDEX_NAME, JSON_FEED_NAME, OPDS2_TYPE, OPDS_ACQUISITION_TYPE,
    SUMS_NAME, WORKER_POLICY, is_safe_name,
)
from convert.editions.landing import CONTENT_SECURITY_POLICY as LANDING_POLICY
from convert.editions.landing import LANDING_NAME

#: Media types by file suffix; anything else is served as opaque bytes.
MEDIA_TYPES = {
    **{f".{name}": media_type for name, (media_type, _label) in EDITION_TYPES.items()},
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    # search.js and the Pagefind bundle it loads (sitesearch.py); module scripts need a
    # JavaScript type, and nosniff holds every other file to its own.
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
#: Media types of the hand-out files by exact name.
NAMED_MEDIA_TYPES = {
    INDEX_NAME: "text/html; charset=utf-8",
    FEED_NAME: OPDS_ACQUISITION_TYPE,
    JSON_FEED_NAME: OPDS2_TYPE,
    SUMS_NAME: "text/plain; charset=utf-8",
}
#: The numbered pages of the feeds have the media types of their start documents.
_FEED_PAGE = re.compile(r"opds-page-[0-9]+\.(xml|json)")
#: Suffixes of the files readers download rather than view: they get Content-Disposition.
DOWNLOAD_SUFFIXES = frozenset(f".{name}" for name in EDITION_TYPES)
#: What a non-HTML response may do if a browser renders it anyway: nothing.
DOWNLOAD_POLICY = "default-src 'none'; sandbox"
#: Bytes read from a file for each piece of a response body.
CHUNK_SIZE = 64 * 1024

_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FOLDER_FLAGS = _ROOT_FLAGS | os.O_NOFOLLOW
# O_NONBLOCK so that a FIFO planted in dist cannot hang open() (it changes nothing for a regular
# file), O_NOCTTY so that a terminal device never becomes the server's controlling terminal.
_FILE_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
_SINGLE_BYTE_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.IGNORECASE)


#: The longest one-line message a 400 answer repeats of what went wrong with a query.
MAX_PROBLEM = 200


def create_app(dist: Path) -> Starlette:
    """An ASGI app that serves the files of `dist` read-only (GET and HEAD), and searches
    its catalog."""
    root = Path(dist).resolve()
    answers = [
        Route(f"/{search.PAGE_PATH}", search_endpoint(root, search.render_page, "text/html; charset=utf-8")),
        Route(f"/{search.FEED_PATH}", search_endpoint(root, search.render_feed, OPDS_ACQUISITION_TYPE)),
        Route(f"/{search.JSON_PATH}", search_endpoint(root, search.render_json, search.OPDS2_TYPE)),
        Route(f"/{search.DESCRIPTION_PATH}", search_description_endpoint(root)),
    ]
    return Starlette(
        routes=[*answers, Route("/{path:path}", ServeFiles(root), methods=["GET", "HEAD"])],
        middleware=[Middleware(SecurityHeaders)],
    )


def search_endpoint(root: Path, render, media_type: str):
    """The endpoint that answers a search with `render(SearchPage)` as `media_type`. A plain
    function, so Starlette runs it in a worker thread: the catalog is read blocking."""

    def answer(request: Request) -> Response:
        return search_response(root, request, render, media_type)

    return answer


def search_response(root: Path, request: Request, render, media_type: str) -> Response:
    """200 with a page of results; 400 for a query that is too long or that FTS5 cannot
    parse; 404 when dist has no catalog with a search index; 503 when the catalog cannot
    be read or the search takes longer than SEARCH_TIME_LIMIT seconds."""
    try:
        result = search.run_search(root, search.search_request(request.query_params))
    except QueryError as error:
        problem = " ".join(str(error).split())
        if len(problem) > MAX_PROBLEM:
            problem = problem[:MAX_PROBLEM - 1] + "…"
        return PlainTextResponse(f'Bad search query: {problem} (FTS5 query syntax; put words with punctuation '
                                 'in "double quotes")', status_code=400, headers=NO_CACHE)
    except sqlite3.Error as error:
        return catalog_unavailable(error)
    if result is None:
        return not_found()
    headers = dict(NO_CACHE)
    if media_type.startswith("text/html"):
        headers["content-security-policy"] = search.SEARCH_POLICY
    return Response(render(result), media_type=media_type, headers=headers)


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
            if not search.can_search(root):
                return not_found()
        except sqlite3.Error as error:
            return catalog_unavailable(error)
        return Response(search.render_description(), media_type=search.DESCRIPTION_TYPE, headers=NO_CACHE)

    return answer


class ServeFiles:
    """The ASGI endpoint: open the file a request names, answer from that descriptor, close it."""

    def __init__(self, root: Path):
        self.root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        names = requested_names(scope)
        descriptor = open_beneath(self.root, names) if names else None
        if descriptor is None:
            await not_found()(scope, receive, send)
            return
        # The descriptor lives exactly as long as this block, whatever happens to the client.
        try:
            response = file_response(Request(scope), descriptor, names[-1])
            await response(scope, receive, send)
        finally:
            os.close(descriptor)


def requested_names(scope: Scope) -> list[str] | None:
    """The names a request's path is made of, or None when one of them is not a name we serve."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    if raw in (b"", b"/"):
        raw = f"/{INDEX_NAME}".encode()
    if not raw.startswith(b"/"):
        return None
    names = []
    # Each segment is decoded once and on its own, so `%2f`, `%5c`, `%2e%2e`
    # and `%252e` can never turn into a separator, `..` or another decoding.
    for segment in raw[1:].split(b"/"):
        # latin-1 turns every byte into one character, so a byte outside the safe ASCII set fails the match.
        name = unquote_to_bytes(segment).decode("latin-1")
        if not is_safe_name(name):
            return None
        names.append(name)
    return names


def open_beneath(root: Path, names: Sequence[str]) -> int | None:
    """A read-only descriptor of root/names[0]/.../names[-1], reached without following any symlink,
    or None when there is no such entry.

    Every name is opened relative to the folder opened before it, so the entry checked afterwards
    is the one that was opened: nothing can be swapped in between (issue 15, finding 3).
    """
    try:
        folder = os.open(root, _ROOT_FLAGS)
    except OSError:
        return None
    try:
        for name in names[:-1]:
            inner = os.open(name, _FOLDER_FLAGS, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(names[-1], _FILE_FLAGS, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)


def file_response(request: Request, descriptor: int, name: str) -> Response:
    """The answer for the open file `descriptor`, called `name`: 404 unless it is a regular file,
    else 304, 416, 206 or 200. The caller keeps the descriptor and closes it after sending."""
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        return not_found()
    headers = file_headers(name, status)
    if not_modified(request, headers):
        return Response(status_code=304, headers={
            field: headers[field] for field in ("etag", "last-modified", "cache-control")
        })
    size = status.st_size
    try:
        span = requested_span(request, headers, size)
    except RangeNotSatisfiable:
        return PlainTextResponse("Range Not Satisfiable", status_code=416, headers={
            "content-range": f"bytes */{size}", "cache-control": "no-cache",
        })
    start, end = span or (0, size)
    if span is not None:
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    headers["content-length"] = str(end - start)
    body = nothing() if request.method == "HEAD" else read_span(descriptor, start, end)
    return StreamingResponse(body, status_code=200 if span is None else 206, headers=headers,
                             media_type=media_type(name))


def file_headers(name: str, status: os.stat_result) -> dict[str, str]:
    """The headers every answer about this file carries, whole or in part."""
    # The same validator Starlette's FileResponse gave, so clients' cached copies stay valid.
    tag = hashlib.md5(f"{status.st_mtime}-{status.st_size}".encode(), usedforsecurity=False).hexdigest()
    headers = {
        "accept-ranges": "bytes",
        "cache-control": "no-cache",
        "etag": f'"{tag}"',
        "last-modified": formatdate(status.st_mtime, usegmt=True),
    }
    if Path(name).suffix in DOWNLOAD_SUFFIXES:
        # A safe name has nothing to quote or escape.
        headers["content-disposition"] = f'attachment; filename="{name}"'
    return headers


class RangeNotSatisfiable(Exception):
    """The requested range starts past the end of the file."""


def requested_span(request: Request, headers: Mapping[str, str], size: int) -> tuple[int, int] | None:
    """The bytes [start, end) a Range header asks for, or None to send the whole file.

    One range is served; several ranges, a unit other than bytes, a malformed range or an
    If-Range that no longer matches get the whole file, as RFC 9110 §14.2 allows.
    """
    header = request.headers.get("range")
    if header is None:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range not in (headers["etag"], headers["last-modified"]):
        return None
    match = _SINGLE_BYTE_RANGE.fullmatch(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        return suffix_span(int(last), size) if last else None
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable()
    end = min(int(last) + 1, size) if last else size
    return start, end


def suffix_span(length: int, size: int) -> tuple[int, int]:
    """The last `length` bytes of the file (`bytes=-length`), all of it when it is shorter."""
    if length == 0 or size == 0:
        raise RangeNotSatisfiable()
    return max(size - length, 0), size


async def read_span(descriptor: int, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes [start, end) of the open file, a chunk at a time, read off the event loop."""
    while start < end:
        chunk = await anyio.to_thread.run_sync(os.pread, descriptor, min(CHUNK_SIZE, end - start), start)
        if not chunk:
            # Truncated in place while being sent; the client must not take a short body for the file.
            raise RuntimeError(f"a served file ended at byte {start} of {end}")
        start += len(chunk)
        yield chunk


async def nothing() -> AsyncIterator[bytes]:
    """The body of an answer to HEAD: no bytes, and no read."""
    return
    yield  # makes this an async generator


def media_type(name: str) -> str:
    if name in NAMED_MEDIA_TYPES:
        return NAMED_MEDIA_TYPES[name]
    page = _FEED_PAGE.fullmatch(name)
    if page:
        return OPDS_ACQUISITION_TYPE if page[1] == "xml" else OPDS2_TYPE
    return MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def not_modified(request: Request, headers: Mapping[str, str]) -> bool:
    """True when the client's cached copy (If-None-Match, else If-Modified-Since) is current."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        etag = headers["etag"]
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
        modified = parsedate_to_datetime(headers["last-modified"])
        return modified <= since
    except (TypeError, ValueError):
        return False


NO_CACHE = {"cache-control": "no-cache"}


def not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404, headers=NO_CACHE)


def html_policy(path: str) -> str:
    """The Content-Security-Policy of an HTML page: each page allows its own style block only."""
    parts = path.strip("/").split("/")
    return LANDING_POLICY if len(parts) == 2 and parts[1] == LANDING_NAME else CONTENT_SECURITY_POLICY


class SecurityHeaders:
    """Add nosniff, a Content-Security-Policy and friends to every response, errors included.
    A response that brings a policy of its own (a results page, whose form may search
    again) keeps it; every other HTML page gets the index page's, a script the worker's,
    anything else none at all."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                own = next((v for k, v in message.get("headers", []) if k.lower() == b"content-security-policy"), None)
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                policy = own.decode("latin-1") if own is not None else (
                    html_policy(scope.get("path", "")) if content_type.startswith(b"text/html")
                    # Pagefind's web worker runs under the policy its script comes with.
                    else WORKER_POLICY if content_type.startswith(b"text/javascript")
                    else DOWNLOAD_POLICY)
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", f"{policy}; frame-ancestors 'none'".encode()),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol that closes a connection whose request headers are not complete
    `header_timeout` seconds after it opened or after its previous answer.

    uvicorn's own keep-alive timeout stops at the first byte of a new request, and nothing else
    times the headers, so a client that sent half a request line held its connection for ever
    (issue 15, finding 7a). The timer does not restart when more bytes come, so trickling the
    headers a byte at a time buys nothing. A body still trickling in after its answer was sent
    is timed the same way: a read-only server has no use for it.
    """

    header_timeout: float = SERVE_HEADER_TIMEOUT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self.watch_client()

    def handle_events(self) -> None:
        # uvicorn calls this for every chunk received and once an answer is sent and the request is whole.
        super().handle_events()
        self.watch_client()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.watch_client()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_header_timer()
        super().connection_lost(exc)

    def watch_client(self) -> None:
        """Run the timer while we wait on the client: for a request's headers, or for the rest of
        a body after we answered; stop it while the client waits on us."""
        waiting_for_headers = self.conn.their_state is h11.IDLE
        waiting_for_leftover_body = self.conn.their_state is h11.SEND_BODY and self.conn.our_state is h11.DONE
        if self.transport.is_closing() or not (waiting_for_headers or waiting_for_leftover_body):
            self.stop_header_timer()
        elif self.header_timer is None:
            self.header_timer = self.loop.call_later(self.header_timeout, self.header_timer_expired)

    def stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def header_timer_expired(self) -> None:
        self.header_timer = None
        self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class uvicorn should build connections from, timing headers at `seconds`."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": seconds})


def serve(dist: Path, *, host: str = "127.0.0.1", port: int = 8000,
          header_timeout: float = SERVE_HEADER_TIMEOUT) -> None:
    """Serve `dist` on host:port until Ctrl-C (or SIGTERM); return once the server has stopped.

    A connection that has not sent a request's complete headers `header_timeout` seconds after
    it opened, or after its previous answer, is closed.
    """
    dist = Path(dist)
    if not dist.is_dir():
        raise ConfigError(f"{dist}: no such folder to serve; build it first with `seedpress archive`")
    if not (dist / INDEX_NAME).is_file():
        raise ConfigError(f"{dist}: no {INDEX_NAME} here; is this an archive built by `seedpress archive`?")
    config = uvicorn.Config(
        create_app(dist), host=host, port=port, lifespan="off", ws="none",
        # Always h11: httptools, uvicorn's choice when installed, would need a timer of its own.
        http=protocol_with_header_timeout(header_timeout),
        server_header=False, log_level="info", access_log=True,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn has shut down gracefully and re-raises the SIGINT it caught; that is our clean exit.
        pass
    except SystemExit as failure:
        # uvicorn logs why it could not start (port in use, bad address) and exits; say it as one line.
        if failure.code not in (0, None):
            raise ConfigError(f"cannot serve {dist} on {host}:{port}; see the message above") from None
