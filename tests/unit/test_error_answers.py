"""A request whose handler raises is answered by the service app itself: the answer carries the
security headers, and the exception never reaches the server (which would drop the
keep-alive connection)."""

import httpx
import pytest
from fastapi import APIRouter

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
    if status == 422:
        assert response.json()["errors"][0]["field"] == "body"
    else:
        assert response.json() == {"detail": "internal error"}
