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
line a minute, not a traceback per waiting connection (loop.py).

Four paths are answers, not files (search.py, search_query.py): /search, /search.atom, /search.json and
/opensearch.xml; and /metrics, serve's own (metrics.py), for loopback clients unless
configured. Each search reads the catalog through a connection of its own, opened
read-only in the worker thread that answers it and closed there. Searches have worker
threads of their own (SearchSlots), apart from the ones files are read with.
"""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from convert.defaults import SEARCH_QUEUE_TIMEOUT, SERVE_HEADER_TIMEOUT, SERVE_SEND_TIMEOUT
from convert.errors import ConfigError
from convert.layout import (
    INDEX_NAME,
    METRICS_PATH,
    OPENSEARCH_NAME,
    SEARCH_FEED_PATH,
    SEARCH_JSON_PATH,
    SEARCH_PAGE_PATH,
)
from convert.publish import search_pages as search
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.publish.opds2 import OPDS2_TYPE
from convert.serve import loop
from convert.serve.files import ServeFiles
from convert.serve.headers import SecurityHeaders
from convert.serve.metrics import MetricsSettings, ServeMetrics
from convert.serve.protocol import StoppingServer, protocol_with_timeouts
from convert.serve.search import SearchSlots, search_description_endpoint, search_endpoint


def create_app(dist: Path, metrics: MetricsSettings = MetricsSettings(), *, search_slots: int | None = None,
               search_wait: float = SEARCH_QUEUE_TIMEOUT) -> Starlette:
    """An ASGI app that serves the files of `dist` read-only (GET and HEAD), searches its
    catalog, at most `search_slots` searches at a time (one per core when None; a search
    that waits `search_wait` seconds for a slot is answered 503), and answers /metrics
    (metrics.py) unless `metrics` turns it off."""
    root = Path(dist).resolve()
    slots = SearchSlots(search_slots, search_wait)
    observed = ServeMetrics(metrics) if metrics.enabled else None
    answers = [
        Route(f"/{SEARCH_PAGE_PATH}", search_endpoint(root, search.render_page, "text/html; charset=utf-8", slots)),
        Route(f"/{SEARCH_FEED_PATH}", search_endpoint(root, search.render_feed, OPDS_ACQUISITION_TYPE, slots)),
        Route(f"/{SEARCH_JSON_PATH}", search_endpoint(root, search.render_json, OPDS2_TYPE, slots)),
        Route(f"/{OPENSEARCH_NAME}", search_description_endpoint(root)),
    ]
    if observed is not None:
        answers.append(observed.route())
    return Starlette(
        routes=[*answers, Route("/{path:path}", ServeFiles(root), methods=["GET", "HEAD"])],
        middleware=[*([observed.middleware()] if observed else []), Middleware(SecurityHeaders)],
    )


def _answered_scrapes_unlogged(record: logging.LogRecord) -> bool:
    """False for the access-log line of a /metrics request answered without an error:
    Prometheus asks every 15 s or so, which is 5,760 lines a day that say nothing. A refused
    or failed one is logged, as is every other request."""
    try:
        _client, _method, path, _version, status = record.args
    except (TypeError, ValueError):
        return True
    return not (str(path).split("?", 1)[0] == f"/{METRICS_PATH}" and int(status) < 400)


#: What to do when the address cannot be had, by errno.
_ADDRESS_HINTS = {
    errno.EADDRINUSE: "another server listens there: stop it, or give another --port",
    errno.EACCES: "a port under 1024 needs privileges: give --port 1024 or above",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address: give another --host",
}


def _check_address(dist: Path, host: str, port: int) -> None:
    """Bind `host`:`port` as uvicorn will, and let it go: an address that cannot be had is one
    line saying why and what to do. uvicorn logged "INFO: Started server process", then
    "ERROR: [Errno 98] error while attempting to bind…", and seedpress "see the message above"."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        hint = _ADDRESS_HINTS.get(error.errno)
        reason = (error.strerror or str(error)).lower() if error.errno else str(error)
        raise ConfigError(f"cannot serve {dist} on {host}:{port}: {reason}" + (f" ({hint})" if hint else "")) from None


def serve(dist: Path, *, host: str = "127.0.0.1", port: int = 8000,
          header_timeout: float = SERVE_HEADER_TIMEOUT, send_timeout: float = SERVE_SEND_TIMEOUT,
          search_slots: int | None = None, search_wait: float = SEARCH_QUEUE_TIMEOUT,
          metrics: MetricsSettings = MetricsSettings()) -> None:
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
    _check_address(dist, host, port)
    config = uvicorn.Config(
        create_app(dist, metrics, search_slots=search_slots, search_wait=search_wait),
        host=host, port=port, lifespan="off", ws="none",
        # Always h11: httptools, uvicorn's choice when installed, would need timers of its own.
        http=protocol_with_timeouts(header_timeout, send_timeout),
        server_header=False, log_level="info", access_log=True,
    )
    # Config set uvicorn's loggers up: a scraper's every answered visit is left out of them.
    logging.getLogger("uvicorn.access").addFilter(_answered_scrapes_unlogged)
    server = StoppingServer(config)
    try:
        # uvicorn's Server.run(), on asyncio's selector loop made quiet about running short
        # (uvloop, uvicorn's choice when installed, would need the same).
        loop.run(server.serve())
    except KeyboardInterrupt:
        # uvicorn has shut down gracefully and re-raises the SIGINT it caught; that is our clean exit.
        pass
    except SystemExit as failure:
        # uvicorn logs why it could not start (port in use, bad address) and exits; say it as one line.
        if failure.code not in (0, None):
            raise ConfigError(f"cannot serve {dist} on {host}:{port}; see the message above") from None
