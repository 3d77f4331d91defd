"""Security headers and request body limits every service's app gets (OWASP API4, API8).

Every response carries nosniff, a Referrer-Policy, X-Frame-Options and a Content-Security-Policy
that allows nothing (`default-src 'none'`, `frame-ancestors 'none'`): right for JSON, and a
safe floor for HTML. A page that needs more sets its own policy with `html_policy`, which pins
its inline styles and scripts by SHA-256 hash of the trusted template instead of allowing
'unsafe-inline'. HSTS is added when the service is configured as served over TLS.

Request bodies past the service's limit are refused with 413 before the app reads them
(declared Content-Length) or as soon as the stream passes it; routes that stream large uploads
and enforce their own limit (capture's CSV import) are listed as exceptions.
"""

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadloop.problems import PROBLEM_JSON, problem_body

STRICT_POLICY = ("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                 "form-action 'self'")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def source_hash(content: str) -> str:
    """A CSP source expression allowing exactly this inline script or style."""
    digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def html_policy(*, styles: Iterable[str] = (), scripts: Iterable[str] = (),
                style_sources: Sequence[str] = (), script_sources: Sequence[str] = (),
                img_sources: Sequence[str] = (), connect_sources: Sequence[str] = (),
                font_sources: Sequence[str] = ()) -> str:
    """A policy for an HTML page: the strict floor plus exactly its trusted inline blocks and
    the named sources (never 'unsafe-inline' for scripts)."""
    directives = [STRICT_POLICY]
    style = [*style_sources, *(source_hash(s) for s in styles)]
    script = [*script_sources, *(source_hash(s) for s in scripts)]
    for name, sources in (("style-src", style), ("script-src", script),
                          ("img-src", img_sources), ("connect-src", connect_sources),
                          ("font-src", font_sources)):
        if sources:
            directives.append(f"{name} {' '.join(sources)}")
    return "; ".join(directives)


def inline_scripts(html: str) -> list[str]:
    """The inline <script> blocks of a page we generated ourselves (e.g. the API docs)."""
    return _INLINE_SCRIPT.findall(html)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp, hsts_max_age_s: int = 0) -> None:
        self.app = app
        self.defaults: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", STRICT_POLICY.encode()),
        ]
        if hsts_max_age_s > 0:
            self.defaults.append((b"strict-transport-security",
                                  f"max-age={hsts_max_age_s}; includeSubDomains".encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.defaults if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(HTTPException):
    """Raised from `receive`: routes that catch HTTPException answer it like their own 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is larger than {max_bytes} bytes")


class BodyLimitMiddleware:
    """413 for a request body larger than `max_bytes`, except on the `exempt` path patterns."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Sequence[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = [re.compile(p) for p in exempt]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(p.fullmatch(scope["path"]) for p in self.exempt):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = orjson.dumps(problem_body(
            413, f"request body is larger than {self.max_bytes} bytes", instance=scope["path"]))
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
