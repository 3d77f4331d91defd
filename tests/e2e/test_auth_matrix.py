"""Every route, times (no key, a key without the scope, a key with it): nobody in where they don't
belong, everybody in where they do."""

import importlib
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest

from leadloop.events.topology import SERVICES
from leadloop_devstack.stack import Stack
from tests.conftest import KNOWN_SCOPES

pytestmark = [pytest.mark.e2e]

# Routes anyone may call: probes, contracts, docs, and what browsers and emails reach.
PUBLIC = re.compile(r"^/(healthz|readyz|metrics|asyncapi\.json|docs.*|redoc|openapi\.json"
                    r"|v1/forms/\{form_id\}/(submissions|activities|embed\.js)"
                    r"|v1/consent-confirmations/\{token\})$")


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    scope: str | None


def _routes() -> list[Route]:
    """Every operation of every service, with the scope its OpenAPI security names."""
    routes = []
    for service in SERVICES:
        document = importlib.import_module(f"{service}.main").app.openapi()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                scopes = {s for requirement in operation.get("security", [])
                          for names in requirement.values() for s in names}
                assert len(scopes) <= 1, f"{service} {method} {path} names several scopes"
                routes.append(Route(service, method.upper(), path,
                                    scopes.pop() if scopes else None))
    return routes


ROUTES = _routes()
PROTECTED = [r for r in ROUTES if r.scope]


def _url(stack: Stack, route: Route) -> str:
    path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
    return f"{stack.url(route.service)}{path}"


def test_every_route_is_either_public_or_needs_a_known_scope() -> None:
    unguarded = [f"{r.service} {r.method} {r.path}" for r in ROUTES
                 if r.scope is None and not PUBLIC.match(r.path)]
    assert unguarded == [], "routes without a scoped API key"
    assert {r.scope for r in PROTECTED} <= {*KNOWN_SCOPES, "admin"}


@pytest.mark.asyncio
@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.service}-{r.method}-{r.path}")
async def test_route_refuses_without_key_and_with_wrong_scope_and_admits_right_scope(
        stack: Stack, scoped_keys: dict[str, str], http: httpx.AsyncClient,
        admin_headers: dict[str, str], route: Route) -> None:
    url = _url(stack, route)
    anonymous = await http.request(route.method, url)
    assert anonymous.status_code == 401, anonymous.text

    wrong = await http.request(route.method, url,
                               headers={"X-API-Key": scoped_keys["nothing"]})
    assert wrong.status_code == 403, wrong.text

    right_key = admin_headers["X-API-Key"] if route.scope == "admin" \
        else scoped_keys[str(route.scope)]
    right = await http.request(route.method, url,
                               headers={"Authorization": f"Bearer {right_key}"})
    assert right.status_code not in (401, 403), right.text
    assert right.status_code < 500, right.text


@pytest.mark.asyncio
async def test_unknown_key_is_refused(stack: Stack, http: httpx.AsyncClient) -> None:
    r = await http.post(f"{stack.url('capture')}/v1/leads", json={"email": "a@b.co"},
                        headers={"X-API-Key": "llk_" + "x" * 43})
    assert r.status_code == 401 and r.json()["detail"] == "unknown API key"
