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
seconds of opening or of its previous answer, and take each piece of an answer
within SERVE_SEND_TIMEOUT seconds (HeaderTimeoutProtocol).

What the server runs short of is answered 503 with Retry-After, never taken for
a missing file: a file that cannot be opened for want of descriptors, a search
that finds every search slot busy. Out of descriptors, the accept loop logs one
line each time it pauses, not a traceback.

Four paths are answers, not files (search.py, search_query.py): /search, /search.atom, /search.json and
/opensearch.xml. Each search reads the catalog through a connection of its own, opened
read-only in the worker thread that answers it and closed there. Searches have worker
threads of their own (SearchSlots), apart from the ones files are read with.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from convert.defaults import SEARCH_QUEUE_TIMEOUT, SERVE_HEADER_TIMEOUT, SERVE_SEND_TIMEOUT
from convert.errors import ConfigError
from convert.layout import INDEX_NAME, OPENSEARCH_NAME, SEARCH_FEED_PATH, SEARCH_JSON_PATH, SEARCH_PAGE_PATH
from convert.publish import search_pages as search
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.publish.opds2 import OPDS2_TYPE
from convert.serve.files import ServeFiles
from convert.serve.headers import SecurityHeaders
from convert.serve.protocol import protocol_with_timeouts
from convert.serve.search import SearchSlots, search_description_endpoint, search_endpoint

#: What accept() fails with when the process or the system runs out of something; asyncio then
#: stops accepting for a second and tries again.
_ACCEPT_SHORTAGES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Seconds between two log lines about such a shortage: asyncio (3.11) reports it once for each
#: connection waiting in the backlog, thousands of times a second.
SHORTAGE_LOG_INTERVAL = 60

logger = logging.getLogger("uvicorn.error")


def create_app(dist: Path, *, search_slots: int | None = None,
               search_wait: float = SEARCH_QUEUE_TIMEOUT) -> Starlette:
    """An ASGI app that serves the files of `dist` read-only (GET and HEAD), and searches
    its catalog, at most `search_slots` searches at a time (one per core when None); a search
    that waits `search_wait` seconds for a slot is answered 503."""
    root = Path(dist).resolve()
    slots = SearchSlots(search_slots, search_wait)
    answers = [
        Route(f"/{SEARCH_PAGE_PATH}", search_endpoint(root, search.render_page, "text/html; charset=utf-8", slots)),
        Route(f"/{SEARCH_FEED_PATH}", search_endpoint(root, search.render_feed, OPDS_ACQUISITION_TYPE, slots)),
        Route(f"/{SEARCH_JSON_PATH}", search_endpoint(root, search.render_json, OPDS2_TYPE, slots)),
        Route(f"/{OPENSEARCH_NAME}", search_description_endpoint(root)),
    ]
    return Starlette(
        routes=[*answers, Route("/{path:path}", ServeFiles(root), methods=["GET", "HEAD"])],
        middleware=[Middleware(SecurityHeaders)],
    )


def serve(dist: Path, *, host: str = "127.0.0.1", port: int = 8000,
          header_timeout: float = SERVE_HEADER_TIMEOUT, send_timeout: float = SERVE_SEND_TIMEOUT,
          search_slots: int | None = None, search_wait: float = SEARCH_QUEUE_TIMEOUT) -> None:
    """Serve `dist` on host:port until Ctrl-C (or SIGTERM); return once the server has stopped.

    A connection that has not sent a request's complete headers `header_timeout` seconds after
    it opened, or after its previous answer, is closed; so is one that has not taken the next
    piece of an answer within `send_timeout` seconds. `search_slots` and `search_wait` are
    create_app's.
    """
    dist = Path(dist)
    if not dist.is_dir():
        raise ConfigError(f"{dist}: no such folder to serve; build it first with `seedpress archive`")
    if not (dist / INDEX_NAME).is_file():
        raise ConfigError(f"{dist}: no {INDEX_NAME} here; is this an archive built by `seedpress archive`?")
    config = uvicorn.Config(
        create_app(dist, search_slots=search_slots, search_wait=search_wait),
        host=host, port=port, lifespan="off", ws="none",
        # Always h11: httptools, uvicorn's choice when installed, would need timers of its own.
        http=protocol_with_timeouts(header_timeout, send_timeout),
        server_header=False, log_level="info", access_log=True,
    )
    server = uvicorn.Server(config)
    try:
        # uvicorn's Server.run(), with the loop's exception handler set first.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(serve_quietly(server))
    except KeyboardInterrupt:
        # uvicorn has shut down gracefully and re-raises the SIGINT it caught; that is our clean exit.
        pass
    except SystemExit as failure:
        # uvicorn logs why it could not start (port in use, bad address) and exits; say it as one line.
        if failure.code not in (0, None):
            raise ConfigError(f"cannot serve {dist} on {host}:{port}; see the message above") from None


async def serve_quietly(server: uvicorn.Server) -> None:
    """Run `server` on this loop, whose exception handler says an accept() that ran short of
    descriptors (or memory) in one line a minute: asyncio's own logs a traceback for each
    connection waiting."""
    asyncio.get_running_loop().set_exception_handler(QuietAboutShortages())
    await server.serve()


class QuietAboutShortages:
    """A loop exception handler: one line for a shortage accept() met, at most every
    SHORTAGE_LOG_INTERVAL seconds; anything else to asyncio's own handler."""

    def __init__(self):
        self.said_at: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exception = context.get("exception")
        if not (isinstance(exception, OSError) and exception.errno in _ACCEPT_SHORTAGES):
            loop.default_exception_handler(context)
            return
        if self.said_at is None or loop.time() - self.said_at >= SHORTAGE_LOG_INTERVAL:
            self.said_at = loop.time()
            logger.warning("%s (%s); new connections wait until the server has some again",
                           context.get("message", "accept() ran short"), exception.strerror)
