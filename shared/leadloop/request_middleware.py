"""The one middleware around every request: its span, its HTTP server metrics, and the answer
to a handler that raised.

One middleware instead of three (trace context, metrics, error answer) because each ASGI layer
costs a call and a `send` wrapper on every request: capture answers thousands a second.

- Span: continues the caller's `traceparent`, named by the route template once routing has
  found it (`POST /v1/leads/{lead_id}`, never the raw path with its ids).
- Metrics: `http_server_request_duration_seconds{service, method, route, status}` in the
  Prometheus registry `/metrics` already serves (its `_count` is the request count).
- Errors: an exception that escapes the app is answered here as an RFC 9457 problem (inside the
  security headers middleware, so the answer gets them), instead of reaching the server, which
  would drop the keep-alive connection.
"""

import logging
import time
from typing import Any

from prometheus_client import Histogram
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadloop.observability import bind_context
from leadloop.problems import problem_response
from leadloop.retry import is_transient
from leadloop.tracing import ServerSpan

log = logging.getLogger(__name__)

HTTP_REQUEST_SECONDS = Histogram(
    "http_server_request_duration_seconds",
    "HTTP requests served, by route template and status (the _count is the request count)",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_UNOBSERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_UNMATCHED = "(unmatched)"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _is_invalid_unicode(exc: BaseException) -> bool:
    current: BaseException | None = exc
    for _ in range(10):
        if current is None:
            return False
        if isinstance(current, UnicodeEncodeError) or "surrogates not allowed" in str(current):
            return True
        # PostgreSQL cannot store NUL characters in text or jsonb (untranslatable character).
        if getattr(current, "sqlstate", None) in ("22P05", "22021"):
            return True
        current = current.__cause__ or current.__context__
    return False


def error_answer(exc: BaseException, instance: str | None = None) -> Response:
    """What a request whose handler raised `exc` is answered."""
    # Text JSON allows but storage cannot hold (NUL, lone surrogates) fails only when stored.
    if _is_invalid_unicode(exc):
        return problem_response(422, "request is invalid", instance=instance, errors=[
            {"field": "body", "location": "body", "type": "unicode",
             "reason": "text contains a NUL character or invalid Unicode"}])
    # A database or broker outage is the caller's cue to retry, not a server bug.
    if is_transient(exc):
        return problem_response(503, "temporarily unavailable; retry shortly",
                                instance=instance, headers={"Retry-After": "1"})
    log.error("unhandled error", exc_info=exc)
    return problem_response(500, "internal error", instance=instance)


class RequestMiddleware:
    """Span, metrics and error answer of every HTTP request (see the module's docstring)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # (method, route, status) -> the histogram's child: `labels()` costs a few µs a call.
        self._series: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNOBSERVED_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                incoming = value.decode("latin-1")
                break
        # A method outside HTTP's own is one series, not one per string a client invents.
        method = scope["method"] if scope["method"] in _METHODS else "_OTHER"
        span = ServerSpan(method, incoming)
        bind_context(traceparent=span.traceparent)
        status = 0

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception as exc:
            if status:
                raise  # half an answer is out: nothing better can be said now
            answer = error_answer(exc, scope["path"])
            status = answer.status_code
            await answer(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", None)
            status = status or 500  # the client went away before any answer
            span.finish(method, route, status)
            self._observe(method, route or _UNMATCHED, status, time.perf_counter() - started)

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = HTTP_REQUEST_SECONDS.labels(
                self.service, method, route, str(status))
        series.observe(seconds)
