"""Every route of every service, as the apps declare them: security headers on every answer
(and a strict, inline-free script policy on every HTML page), bounded request bodies on every
POST, and no wildcard CORS anywhere."""

import importlib
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route as StarletteRoute

from leadloop.events.topology import SERVICES
from leadloop.security import BodyLimitMiddleware
from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form, unique_email

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str


def _app(service: str) -> FastAPI:
    app: FastAPI = importlib.import_module(f"{service}.main").app
    return app


def _walk(routes: Iterable[Any], prefix: str = "") -> Iterator[StarletteRoute]:
    """Every endpoint, including those of included routers and those left out of OpenAPI."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            yield from _walk(route.original_router.routes,
                             prefix + (getattr(route.include_context, "prefix", "") or ""))
        elif isinstance(route, StarletteRoute):
            yield StarletteRoute(prefix + route.path, route.endpoint, methods=route.methods)


def _routes(*methods: str) -> list[Route]:
    return sorted({Route(service, method, route.path) for service in SERVICES
                   for route in _walk(_app(service).routes)
                   for method in methods if method in (route.methods or ())},
                  key=lambda r: (r.service, r.path, r.method))


def _exempt_from_body_limit(route: Route) -> bool:
    for middleware in _app(route.service).user_middleware:
        if middleware.cls is BodyLimitMiddleware:
            return any(re.fullmatch(p, route.path) for p in middleware.kwargs.get("exempt", ()))
    raise AssertionError(f"{route.service} has no request body limit")


def _url(stack: Stack, route: Route) -> str:
    return stack.url(route.service) + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)


def _assert_security_headers(response: httpx.Response, what: str) -> None:
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("x-frame-options") == "DENY", what
    assert headers.get("referrer-policy") == "no-referrer", what
    policy = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, what
    assert headers.get("access-control-allow-origin") != "*", what
    assert "server" not in headers, what  # which server and version is a scanner's first clue
    if response.headers.get("content-type", "").startswith("text/html"):
        directives = dict(d.strip().partition(" ")[::2] for d in policy.split(";"))
        assert "unsafe-inline" not in directives.get("script-src", ""), what
        assert "base-uri 'none'" in policy, what


async def test_every_get_route_answers_with_security_headers_and_html_pages_with_a_strict_csp(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    html_pages = []
    for route in _routes("GET"):
        response = await http.get(_url(stack, route), headers=admin_headers)
        what = f"{route.service} GET {route.path} -> {response.status_code}"
        assert response.status_code < 500, what
        _assert_security_headers(response, what)
        if response.headers.get("content-type", "").startswith("text/html"):
            html_pages.append(f"{route.service} {route.path}")
    # The dashboard, nurture's pages and every service's API docs are among them.
    assert any(p.startswith("outcomes /dashboard") for p in html_pages), html_pages
    assert any(p.startswith("nurture ") and "/docs" not in p for p in html_pages), html_pages


async def test_capture_thank_you_page_and_cors_answers_carry_the_headers(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form(redirect_url=None))
    url = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    thanks = await http.post(url, data={"email": unique_email("page"),
                                        "_form_key": form["public_key"]},
                             headers={"Accept": "text/html",
                                      "Origin": "https://www.example.com"})
    assert thanks.status_code == 200 and thanks.headers["content-type"].startswith("text/html")
    assert thanks.headers["access-control-allow-origin"] == "https://www.example.com"
    _assert_security_headers(thanks, "thank-you page")
    foreign = await http.options(url, headers={"Origin": "https://evil.example",
                                               "Access-Control-Request-Method": "POST"})
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    script = await http.get(f"{stack.url('capture')}/v1/forms/{form['id']}/embed.js",
                            params={"key": form["public_key"]})
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    # A classic <script src> on the customer's site is not blocked by any of our headers.
    assert "cross-origin-resource-policy" not in script.headers


@pytest.mark.parametrize("route", [r for r in _routes("POST", "PUT", "PATCH")
                                   if not _exempt_from_body_limit(r)],
                         ids=lambda r: f"{r.service}-{r.method}-{r.path}")
async def test_every_route_taking_a_body_refuses_an_oversized_one(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        route: Route) -> None:
    response = await http.request(route.method, _url(stack, route),
                                  content=b"x" * (2 * 1024 * 1024),
                                  headers={**admin_headers, "Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    _assert_security_headers(response, f"{route.service} POST {route.path}")
