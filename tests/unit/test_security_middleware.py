"""The shared security middleware on a bare app: headers, HSTS when configured, a page's own
policy kept, and bodies past the limit refused whether declared or streamed."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from leadloop.security import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    html_policy,
    source_hash,
)

pytestmark = pytest.mark.asyncio
CSS = "body{margin:0}"


def _app(hsts_max_age_s: int = 0) -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimitMiddleware, max_bytes=1000, exempt=[r"/upload"])
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age_s=hsts_max_age_s)

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse(f"<style>{CSS}</style>",
                            headers={"Content-Security-Policy": html_policy(styles=[CSS])})

    @app.post("/echo")
    @app.post("/upload")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_every_answer_gets_the_headers_and_a_page_keeps_its_own_policy() -> None:
    async with _client(_app()) as client:
        page = await client.get("/page")
        missing = await client.get("/nowhere")
    policy = page.headers["content-security-policy"]
    assert f"style-src {source_hash(CSS)}" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    for response in (page, missing):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers
    assert missing.headers["content-security-policy"].startswith("default-src 'none'")


async def test_hsts_is_sent_only_when_configured() -> None:
    async with _client(_app(hsts_max_age_s=31_536_000)) as client:
        response = await client.get("/page")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_bodies_past_the_limit_are_refused_declared_or_streamed() -> None:
    async def stream() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 300

    async with _client(_app()) as client:
        small = await client.post("/echo", content=b"x" * 1000)
        declared = await client.post("/echo", content=b"x" * 1001)
        streamed = await client.post("/echo", content=stream())
        exempt = await client.post("/upload", content=b"x" * 5000)
    assert small.json() == {"bytes": 1000}
    assert declared.status_code == 413 and streamed.status_code == 413
    assert streamed.headers["x-content-type-options"] == "nosniff"
    assert exempt.json() == {"bytes": 5000}
