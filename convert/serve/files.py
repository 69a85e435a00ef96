"""The file responses of `seedpress serve`: a request path to a regular file beneath
dist (no symlink, no hidden name, no traversal), its media type, and HEAD, Range and
conditional requests answered from an open descriptor."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import AsyncIterator, Mapping, Sequence
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from convert.defaults import SERVE_READ_THREADS, SERVE_RETRY_AFTER
from convert.layout import BIBTEX_EDITION, FEED_NAME, INDEX_NAME, JSON_FEED_NAME, SUMS_NAME
from convert.publish.entries import is_safe_name
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.publish.opds2 import OPDS2_TYPE
from convert.serve.headers import response_policy
from convert.serve.numbers import bounded_int
from convert.web import CITATION_TYPES, EDITION_TYPES, ICON_TYPE, IMAGE_TYPE

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
    ".svg": ICON_TYPE,
    # A title's cover and thumbnail (layout.IMAGE_FILES).
    ".png": IMAGE_TYPE,
    # A title's BibTeX citation (layout.CITATION_FILES); its CSL-JSON is .json.
    ".bib": CITATION_TYPES[BIBTEX_EDITION][0],
}

#: Media types of the hand-out files by exact name.
NAMED_MEDIA_TYPES = {
    INDEX_NAME: "text/html; charset=utf-8",
    FEED_NAME: OPDS_ACQUISITION_TYPE,
    JSON_FEED_NAME: OPDS2_TYPE,
    SUMS_NAME: "text/plain; charset=utf-8",
}

#: The numbered pages of the feeds, and the feeds of each facet value (layout.FACET_FILE),
#: have the media types of their start documents.
_FEED_PAGE = re.compile(r"opds-[a-z0-9_-]+\.(xml|json)")

#: Suffixes of the files readers download rather than view: they get Content-Disposition.
DOWNLOAD_SUFFIXES = frozenset(f".{name}" for name in EDITION_TYPES)

#: Bytes read from a file for each piece of a response body.
CHUNK_SIZE = 64 * 1024

_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


_FOLDER_FLAGS = _ROOT_FLAGS | os.O_NOFOLLOW


# O_NONBLOCK so that a FIFO planted in dist cannot hang open() (it changes nothing for a regular
# file), O_NOCTTY so that a terminal device never becomes the server's controlling terminal.
_FILE_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY

_SINGLE_BYTE_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.IGNORECASE)

#: Significant digits of the largest byte position a file can have (2**63 - 1); a Range position
#: with more lies past the end of any file, and is taken as BEYOND_ANY_FILE.
MAX_POSITION_DIGITS = len(str(2**63 - 1))
BEYOND_ANY_FILE = 10**MAX_POSITION_DIGITS

#: What open() says of a path that names nothing serve hands out: no such entry, a file where
#: a folder should be, a symlink (O_NOFOLLOW), a name too long, a socket or device. Any other
#: error (no descriptor left, no memory, an I/O error) is the server's trouble, not the path's.
_NO_SUCH_FILE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.ENXIO,
                           errno.ENODEV})


class ServeFiles:
    """The ASGI endpoint: open the file a request names, answer from that descriptor, close it."""

    def __init__(self, root: Path, read_threads: int = SERVE_READ_THREADS):
        self.root = root
        # File reads have worker threads of their own, so no other work can keep a file waiting.
        self.readers = anyio.CapacityLimiter(read_threads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        names = requested_names(scope)
        try:
            descriptor = open_beneath(self.root, names) if names else None
        except OSError as error:
            await unavailable(f"the file cannot be opened now ({os.strerror(error.errno)})")(scope, receive, send)
            return
        if descriptor is None:
            await not_found()(scope, receive, send)
            return
        # The descriptor lives exactly as long as this block, whatever happens to the client.
        try:
            response = file_response(Request(scope), descriptor, names[-1], self.readers)
            await response(scope, receive, send)
        finally:
            os.close(descriptor)


def _raw_path(scope: Scope) -> bytes:
    """The request's path as the client sent it (no query)."""
    return scope.get("raw_path") or scope["path"].encode("utf-8")


def requested_names(scope: Scope) -> list[str] | None:
    """The names a request's path is made of, or None when one of them is not a name we serve."""
    raw = _raw_path(scope)
    # A folder's page, as every static host answers it: / is index.html, /key/ the title's landing page.
    if raw in (b"", b"/") or raw.endswith(b"/"):
        raw = raw.removesuffix(b"/") + f"/{INDEX_NAME}".encode()
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
    or None when there is no such entry. Raises OSError for any other failure to open (EMFILE at
    the descriptor limit, ENOMEM, EIO): the file may well be there.

    Every name is opened relative to the folder opened before it, so the entry checked afterwards
    is the one that was opened: nothing can be swapped in between (issue 15, finding 3).
    """
    try:
        folder = os.open(root, _ROOT_FLAGS)
    except OSError as error:
        return _no_such_file(error)
    try:
        for name in names[:-1]:
            inner = os.open(name, _FOLDER_FLAGS, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(names[-1], _FILE_FLAGS, dir_fd=folder)
    except OSError as error:
        return _no_such_file(error)
    finally:
        os.close(folder)


def _no_such_file(error: OSError) -> None:
    """None for an error that means there is no such file to serve; raise it again otherwise."""
    if error.errno in _NO_SUCH_FILE:
        return None
    raise error


def file_response(request: Request, descriptor: int, name: str,
                  readers: anyio.CapacityLimiter | None = None) -> Response:
    """The answer for the open file `descriptor`, called `name`: 301 to the path with its slash
    for a folder that has a page, 404 for anything else that is not a regular file, else 304,
    416, 206 or 200. The caller keeps the descriptor and closes it after sending; the body is
    read in `readers`' worker threads (anyio's default ones without)."""
    status = os.fstat(descriptor)
    if stat.S_ISDIR(status.st_mode) and _has_page(descriptor):
        # /key, a title's folder named without its slash: its page is at /key/, as every
        # static host answers (a path ending in / names index.html, never a folder).
        return folder_redirect(request.scope)
    if not stat.S_ISREG(status.st_mode):
        return not_found()
    headers = file_headers(name, status)
    if not_modified(request, headers):
        # A browser takes the headers of a 304 into its stored answer (RFC 9111 §4.3.4): the
        # policy is the one the whole answer carries, or a page revalidated on reload would
        # come back sandboxed, with no style, images or search (a 304 has no content type
        # for SecurityHeaders to choose a policy by).
        policy = response_policy(request.scope["path"], media_type(name).encode("latin-1"))
        return Response(status_code=304, headers={
            **{field: headers[field] for field in ("etag", "last-modified", "cache-control")},
            "content-security-policy": policy,
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
    body = nothing() if request.method == "HEAD" else read_span(descriptor, start, end, readers)
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
    If-Range that no longer matches get the whole file, as RFC 9110 §14.2 allows. A position of
    any number of digits is understood: one past the end of every file is past the end of this one.
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
        return suffix_span(position(last), size) if last else None
    start = position(first)
    if last and position(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable()
    end = min(position(last) + 1, size) if last else size
    return start, end


def position(digits: str) -> int:
    """The byte position a Range header's ASCII digits spell; BEYOND_ANY_FILE for one with more
    digits than any file's size has."""
    number = bounded_int(digits, MAX_POSITION_DIGITS)
    return BEYOND_ANY_FILE if number is None else number


def suffix_span(length: int, size: int) -> tuple[int, int]:
    """The last `length` bytes of the file (`bytes=-length`), all of it when it is shorter."""
    if length == 0 or size == 0:
        raise RangeNotSatisfiable()
    return max(size - length, 0), size


async def read_span(descriptor: int, start: int, end: int,
                    readers: anyio.CapacityLimiter | None = None) -> AsyncIterator[bytes]:
    """Bytes [start, end) of the open file, a chunk at a time, read off the event loop in
    `readers`' worker threads."""
    while start < end:
        chunk = await anyio.to_thread.run_sync(os.pread, descriptor, min(CHUNK_SIZE, end - start), start,
                                               limiter=readers)
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
    except (TypeError, ValueError, OverflowError):
        # Not a date; OverflowError for a year or day of 20 digits or more (issue 20, D7).
        return False


NO_CACHE = {"cache-control": "no-cache"}


def not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404, headers=NO_CACHE)


def _has_page(folder: int) -> bool:
    """Whether the open folder holds its page (index.html), a regular file and no link."""
    try:
        return stat.S_ISREG(os.stat(INDEX_NAME, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def folder_redirect(scope: Scope) -> Response:
    """301 from a folder's path to the same path with its slash. The path is the one the
    request gave, every segment of it a safe name (requested_names), so it is plain ASCII
    and can neither leave this server nor end the header."""
    location = _raw_path(scope).decode("ascii") + "/"
    return PlainTextResponse("Moved Permanently", status_code=301, headers={**NO_CACHE, "location": location})


def unavailable(reason: str) -> Response:
    """503 for what the server cannot do now but may soon (no descriptor left, every search slot
    busy, the catalog locked): the client is asked to come back in SERVE_RETRY_AFTER seconds."""
    return PlainTextResponse(f"Service Unavailable: {reason}", status_code=503,
                             headers={**NO_CACHE, "retry-after": str(SERVE_RETRY_AFTER)})
