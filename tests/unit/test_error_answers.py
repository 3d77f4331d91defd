"""A request whose handler raises is answered by the service app itself: the answer carries the
security headers, and the exception never reaches the server (which would drop the
keep-alive connection)."""

import httpx
import pytest
from fastapi import APIRouter, HTTPException

from leadloop.app import create_service_app
from leadloop.settings import ServiceSettings

pytestmark = pytest.mark.asyncio


class _Untranslatable(Exception):
    sqlstate = "22P05"  # what PostgreSQL says of a NUL character in text


def _client() -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/bug")
    async def bug() -> None:
        raise KeyError("a bug")

    @router.get("/nul")
    async def nul() -> None:
        raise RuntimeError("could not store") from _Untranslatable()

    app = create_service_app(settings=ServiceSettings(service_name="capture"), routers=[router])
    # raise_app_exceptions: an exception that escaped the app would fail the request here.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize(("path", "status"), [("/bug", 500), ("/nul", 422)])
async def test_an_error_answer_has_the_security_headers_and_keeps_the_exception_in(
        path: str, status: int) -> None:
    async with _client() as client:
        response = await client.get(path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["content-type"] == "application/problem+json"
    if status == 422:
        assert response.json()["errors"][0]["field"] == "body"
    else:
        assert response.json() == {"type": "about:blank", "title": "Internal Server Error",
                                   "status": 500, "detail": "internal error", "instance": "/bug"}


async def test_every_refusal_is_a_problem_naming_the_bad_field_and_where_it_was() -> None:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: int, limit: int = 10) -> dict[str, int]:
        if thing_id == 404:
            raise HTTPException(404, "no thing with this id")
        return {"thing_id": thing_id}

    app = create_service_app(settings=ServiceSettings(service_name="capture"), routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        invalid = await client.get("/things/x?limit=many")
        missing = await client.get("/things/404")
        unknown = await client.get("/nowhere?email=ada@example.com")
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    body = invalid.json()
    assert (body["type"], body["title"], body["status"], body["instance"]) == (
        "about:blank", "Unprocessable Content", 422, "/things/x")
    assert {(e["field"], e["location"]) for e in body["errors"]} == {
        ("thing_id", "path"), ("limit", "query")}
    assert all(e["reason"] for e in body["errors"])
    assert missing.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                              "detail": "no thing with this id", "instance": "/things/404"}
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "example.com" not in unknown.text, "the query (personal data) is not echoed"
