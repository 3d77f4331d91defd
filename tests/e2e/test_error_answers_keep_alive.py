"""Error answers leave a keep-alive connection usable: one raw TCP connection carries a NUL-byte
422, a malformed-JSON 422, a 401 and a 404, each with the security headers, and then a
normal request, as a client's connection pool reuses one connection."""

import asyncio
from urllib.parse import urlsplit

import pytest

from leadloop_devstack.stack import Stack

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
                    ) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on the open connection and read its whole answer."""
    writer.write(request)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in
               (line.partition(":") for line in lines if line)}
    assert "chunked" not in headers.get("transfer-encoding", ""), headers
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return int(status_line.split()[1]), headers, body


def _post(host: str, path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


async def test_error_answers_keep_the_connection_and_carry_security_headers(
        stack: Stack, admin_headers: dict[str, str]) -> None:
    url = urlsplit(stack.url("capture"))
    assert url.hostname is not None and url.port is not None
    host = f"{url.hostname}:{url.port}"
    key = f"X-API-Key: {admin_headers['X-API-Key']}\r\n"
    requests = [
        (422, _post(host, "/v1/leads", b'{"email": "nul\\u0000@example.com"}', key)),
        (422, _post(host, "/v1/leads", b'{"email": ', key)),
        (401, _post(host, "/v1/leads", b'{"email": "a@example.com"}')),
        (404, f"GET /v1/no-such-route HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()),
        (200, f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()),
    ]
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        for expected, request in requests:
            status, headers, body = await _exchange(reader, writer, request)
            assert status == expected, (expected, body[:300])
            assert headers.get("connection", "keep-alive").lower() != "close", (status, headers)
            assert headers["x-content-type-options"] == "nosniff", (status, headers)
            assert "content-security-policy" in headers, (status, headers)
            assert headers["x-frame-options"] == "DENY", (status, headers)
    finally:
        writer.close()
        await writer.wait_closed()
