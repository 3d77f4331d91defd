"""Capture's refusals decided below its routers (capture.exceptions) answer exactly as the HTTP
errors they stand for: same status, problem document and headers."""

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, HTTPException

from capture.exceptions import InputInvalid, NotFound, PeersUnavailable, Refused, on_refused
from capture.main import app as capture_app
from leadloop.app import create_service_app
from leadloop.settings import ServiceSettings

_KEY_ERRORS = [{"field": "Idempotency-Key", "reason": "must be 1 to 255 printable characters",
                "type": "value_error"}]
_PAIRS: dict[str, tuple[Refused, HTTPException]] = {
    "invalid": (InputInvalid(_KEY_ERRORS),
                HTTPException(422, {"detail": "request is invalid", "errors": _KEY_ERRORS})),
    "unavailable": (PeersUnavailable({"scoring": "answered 500"}), HTTPException(
        503, {"detail": "could not gather every service's data; retry shortly",
              "errors": [{"field": "scoring", "reason": "answered 500", "type": "unavailable"}]},
        headers={"Retry-After": "5"})),
    "not_found": (NotFound("no lead with this id"), HTTPException(404, "no lead with this id")),
}
_PER_REQUEST = {"x-request-id", "traceparent", "date", "content-length"}


def _client() -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/refused/{name}")
    async def refused(name: str) -> None:
        raise _PAIRS[name][0]

    @router.get("/http/{name}")
    async def http_error(name: str) -> None:
        raise _PAIRS[name][1]

    app = create_service_app(settings=ServiceSettings(service_name="capture"), routers=[router])
    app.add_exception_handler(Refused, on_refused)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _answer(response: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {k: v for k, v in response.json().items() if k != "instance"}
    headers = {k: v for k, v in response.headers.items() if k not in _PER_REQUEST}
    return response.status_code, body, headers


def test_capture_answers_its_refusals_with_the_shared_handler() -> None:
    assert capture_app.exception_handlers.get(Refused) is on_refused


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(_PAIRS))
async def test_a_refusal_answers_like_the_http_error_it_stands_for(name: str) -> None:
    async with _client() as client:
        refused = await client.get(f"/refused/{name}")
        http_error = await client.get(f"/http/{name}")
    assert refused.headers["content-type"] == "application/problem+json"
    assert _answer(refused) == _answer(http_error)
