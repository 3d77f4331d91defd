"""Refusals decided below the routers (leadloop.problems.Refusal: capture's and outcomes')
answer exactly as the HTTP errors they stand for, through the handler every service app has:
same status, problem document and headers."""

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, HTTPException

from capture.exceptions import (
    InputInvalid,
    MergeNotFound,
    MergeRefused,
    NotFound,
    PeersUnavailable,
)
from leadloop.app import create_service_app
from leadloop.problems import Refusal
from leadloop.settings import ServiceSettings
from outcomes.exceptions import DealRefused, found
from outcomes.exceptions import NotFound as OutcomesNotFound


def found_nothing() -> Refusal:
    """The refusal outcomes' `found` raises for a missing row."""
    with pytest.raises(OutcomesNotFound) as missing:
        found(None, "no digest for this period")
    return missing.value


_KEY_ERRORS = [{"field": "Idempotency-Key", "reason": "must be 1 to 255 printable characters",
                "type": "value_error"}]
_PAIRS: dict[str, tuple[Refusal, HTTPException]] = {
    "invalid": (InputInvalid(_KEY_ERRORS),
                HTTPException(422, {"detail": "request is invalid", "errors": _KEY_ERRORS})),
    "unavailable": (PeersUnavailable({"scoring": "answered 500"}), HTTPException(
        503, {"detail": "could not gather every service's data; retry shortly",
              "errors": [{"field": "scoring", "reason": "answered 500", "type": "unavailable"}]},
        headers={"Retry-After": "5"})),
    "not_found": (NotFound("no lead with this id"), HTTPException(404, "no lead with this id")),
    "merge_conflict": (MergeRefused("this merge was undone already"),
                       HTTPException(409, "this merge was undone already")),
    "merge_missing": (MergeNotFound("no merge with this id"),
                      HTTPException(404, "no merge with this id")),
    "conflict": (DealRefused("this lead was erased; its deals are no longer recorded"),
                 HTTPException(409, "this lead was erased; its deals are no longer recorded")),
    "missing": (found_nothing(), HTTPException(404, "no digest for this period")),
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
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _answer(response: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {k: v for k, v in response.json().items() if k != "instance"}
    headers = {k: v for k, v in response.headers.items() if k not in _PER_REQUEST}
    return response.status_code, body, headers


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(_PAIRS))
async def test_a_refusal_answers_like_the_http_error_it_stands_for(name: str) -> None:
    async with _client() as client:
        refused = await client.get(f"/refused/{name}")
        http_error = await client.get(f"/http/{name}")
    assert refused.headers["content-type"] == "application/problem+json"
    assert _answer(refused) == _answer(http_error)
