"""`seedpress serve`: a read-only HTTP server of dist (DESIGN §6), Starlette under uvicorn.

Only plain names are served: every segment of the raw request path must be a
name the archive could have written (letters, digits, `_`, `-`, `.`, never a
leading dot), decoded exactly once. Hidden files (the catalog, the lock,
moved-aside editions, temp files), `..`, encoded separators, double encoding,
folders and symlinks that resolve outside dist all get the same 404.
"""

from __future__ import annotations

import stat
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ConfigError
from .handout import (
    CONTENT_SECURITY_POLICY, EDITION_TYPES, FEED_NAME, INDEX_NAME, OPDS_ACQUISITION_TYPE, SUMS_NAME, is_safe_name,
)

#: Media types by file suffix; anything else is served as opaque bytes.
MEDIA_TYPES = {
    **{f".{name}": media_type for name, (media_type, _label) in EDITION_TYPES.items()},
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
}
#: Media types of the hand-out files by exact name.
NAMED_MEDIA_TYPES = {
    INDEX_NAME: "text/html; charset=utf-8",
    FEED_NAME: OPDS_ACQUISITION_TYPE,
    SUMS_NAME: "text/plain; charset=utf-8",
}
#: Suffixes of the files readers download rather than view: they get Content-Disposition.
DOWNLOAD_SUFFIXES = frozenset(f".{name}" for name in EDITION_TYPES)
#: What a non-HTML response may do if a browser renders it anyway: nothing.
DOWNLOAD_POLICY = "default-src 'none'; sandbox"


def create_app(dist: Path) -> Starlette:
    """An ASGI app that serves the files of `dist` read-only (GET and HEAD)."""
    root = Path(dist).resolve()

    async def serve_file(request: Request) -> Response:
        path = resolve_request(root, request.scope)
        if path is None:
            return not_found()
        try:
            status = path.stat()
        except OSError:
            return not_found()
        if not stat.S_ISREG(status.st_mode):
            return not_found()
        response = FileResponse(
            path, media_type=media_type(path.name), stat_result=status,
            filename=path.name if path.suffix in DOWNLOAD_SUFFIXES else None,
            headers={"Cache-Control": "no-cache"},
        )
        if not_modified(request, response):
            return Response(status_code=304, headers={
                name: response.headers[name] for name in ("etag", "last-modified", "cache-control")
            })
        return response

    return Starlette(
        routes=[Route("/{path:path}", serve_file, methods=["GET", "HEAD"])],
        middleware=[Middleware(SecurityHeaders)],
    )


def resolve_request(root: Path, scope: Scope) -> Path | None:
    """The file under `root` a request names, or None when it names nothing servable."""
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
    candidate = root.joinpath(*names)
    try:
        target = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(root):
        return None
    # A symlink inside dist may lead to another file of dist, never to a hidden one.
    if any(part.startswith(".") for part in target.relative_to(root).parts):
        return None
    return target


def media_type(name: str) -> str:
    if name in NAMED_MEDIA_TYPES:
        return NAMED_MEDIA_TYPES[name]
    return MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def not_modified(request: Request, response: Response) -> bool:
    """True when the client's cached copy (If-None-Match, else If-Modified-Since) is current."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        etag = response.headers["etag"]
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
        modified = parsedate_to_datetime(response.headers["last-modified"])
        return modified <= since
    except (TypeError, ValueError):
        return False


def not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404, headers={"Cache-Control": "no-cache"})


class SecurityHeaders:
    """Add nosniff, a Content-Security-Policy and friends to every response, errors included."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                policy = CONTENT_SECURITY_POLICY if content_type.startswith(b"text/html") else DOWNLOAD_POLICY
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


def serve(dist: Path, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `dist` on host:port until Ctrl-C (or SIGTERM); return once the server has stopped."""
    import uvicorn

    dist = Path(dist)
    if not dist.is_dir():
        raise ConfigError(f"{dist}: no such folder to serve; build it first with `seedpress archive`")
    if not (dist / INDEX_NAME).is_file():
        raise ConfigError(f"{dist}: no {INDEX_NAME} here; is this an archive built by `seedpress archive`?")
    config = uvicorn.Config(
        create_app(dist), host=host, port=port, lifespan="off", ws="none",
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
