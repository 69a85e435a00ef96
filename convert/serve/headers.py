"""The security headers every answer of `seedpress serve` carries: a Content-Security-Policy
per kind of page, no sniffing, no framing, no referrer."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convert.editions.landing import CONTENT_SECURITY_POLICY as LANDING_POLICY
from convert.layout import LANDING_NAME
from convert.publish.index_page import CONTENT_SECURITY_POLICY, WORKER_POLICY

#: What a non-HTML response may do if a browser renders it anyway: nothing.
DOWNLOAD_POLICY = "default-src 'none'; sandbox"


def html_policy(path: str) -> str:
    """The Content-Security-Policy of an HTML page: each page allows its own style block only."""
    parts = path.strip("/").split("/")
    # /key/ is the title's landing page, as /key/index.html is.
    landing = (len(parts) == 2 and parts[1] == LANDING_NAME) or (len(parts) == 1 and parts[0] and path.endswith("/"))
    return LANDING_POLICY if landing else CONTENT_SECURITY_POLICY


def response_policy(path: str, content_type: bytes) -> str:
    """The Content-Security-Policy of an answer of `content_type` (bytes, as in the headers) at
    `path`: a page's own, a script's, or none at all for anything else."""
    if content_type.startswith(b"text/html"):
        return html_policy(path)
    # Pagefind's web worker runs under the policy its script comes with.
    if content_type.startswith(b"text/javascript"):
        return WORKER_POLICY
    return DOWNLOAD_POLICY


class SecurityHeaders:
    """Add nosniff, a Content-Security-Policy and friends to every response, errors included.
    A response that brings a policy of its own (a results page, whose form may search
    again; a 304, which has no content type to choose one by) keeps it; every other HTML
    page gets the index page's, a script the worker's, anything else none at all."""

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
                policy = (own.decode("latin-1") if own is not None
                          else response_policy(scope.get("path", ""), content_type))
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
