"""`seedpress serve`'s own metrics: requests counted and timed by route, and the time searches
take, answered at /metrics in the Prometheus text format (prometheus-client).

/metrics answers loopback clients only, unless more networks are allowed (`--metrics-from`,
`[serve] metrics_from`); every other client gets the same 404 as a file that is not there.
Behind a reverse proxy on the same machine, the client is the address the proxy passes
in X-Forwarded-For (uvicorn trusts it from 127.0.0.1 only), so a proxied request from
elsewhere is not local. `--no-metrics` (`[serve] metrics = false`) turns it all off.

Routes are a fixed set of labels (each search endpoint, the metrics, and "files" for
every file of dist), so that no request path becomes a label of its own.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convert.layout import METRICS_PATH, OPENSEARCH_NAME, SEARCH_FEED_PATH, SEARCH_JSON_PATH, SEARCH_PAGE_PATH
from convert.serve.files import NO_CACHE, not_found

#: Networks whose clients may always read /metrics.
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

#: The route label of each path that is an answer rather than a file.
ROUTES = {f"/{path}": path for path in (SEARCH_PAGE_PATH, SEARCH_FEED_PATH, SEARCH_JSON_PATH, OPENSEARCH_NAME,
                                        METRICS_PATH)}
SEARCH_ROUTES = frozenset((SEARCH_PAGE_PATH, SEARCH_FEED_PATH, SEARCH_JSON_PATH))
#: The label of every other request: a file of dist (or a 404).
FILES_ROUTE = "files"
#: Methods counted by name; any other is counted as "other".
METHODS = frozenset(("GET", "HEAD"))


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network `text` names (an address or a CIDR block); ValueError, in words, otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or network: {text!r} (for example 10.0.0.0/8 or 192.0.2.7)") from None


@dataclass(frozen=True)
class MetricsSettings:
    """Whether serve answers /metrics, and to whom besides loopback clients."""

    enabled: bool = True
    allowed: Sequence[str] = ()
    """Networks (CIDR text) whose clients may read /metrics besides loopback ones."""


class ServeMetrics:
    """The metrics of one app: its registry, the middleware that fills it, the /metrics route."""

    def __init__(self, settings: MetricsSettings = MetricsSettings()):
        self.registry = CollectorRegistry()
        self.networks = (*LOOPBACK, *(parse_network(text) for text in settings.allowed))
        self.requests = Counter("seedpress_http_requests", "HTTP requests answered, by route, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("seedpress_http_request_duration_seconds",
                                 "Time from a request to the end of its answer, by route.", ["route"],
                                 registry=self.registry)
        self.search = Histogram("seedpress_search_duration_seconds",
                                "Time a search took to answer, by endpoint.", ["route"], registry=self.registry)

    def middleware(self) -> Middleware:
        return Middleware(RequestMetrics, metrics=self)

    def route(self) -> Route:
        return Route(f"/{METRICS_PATH}", self.answer, methods=["GET", "HEAD"])

    def allows(self, host: str | None) -> bool:
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None) is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def answer(self, request: Request) -> Response:
        if not self.allows(request.client.host if request.client else None):
            return not_found()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST, headers=NO_CACHE)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method if method in METHODS else "other",
                             status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)
        if route in SEARCH_ROUTES:
            self.search.labels(route=route).observe(seconds)


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request, from its arrival to the end of its answer."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before it answers

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = ROUTES.get(scope.get("path", ""), FILES_ROUTE)
            self.metrics.observe(route, scope.get("method", ""), status, time.perf_counter() - started)
