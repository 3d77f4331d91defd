"""The load generator's lean HTTP client (bench/lean_http.py) against a scripted server: it reads
the answers uvicorn gives, reuses connections, and replaces one the server closed."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bench.lean_http import LeanClient

Answer = Callable[[bytes], bytes]

pytestmark = pytest.mark.asyncio


async def _serve(answer: Answer, close_after: int) -> tuple[asyncio.Server, list[bytes]]:
    """A server that answers each request with `answer(request)` and closes a connection after
    `close_after` requests; returns the requests it read, in order."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(close_after):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            request = head + await reader.readexactly(length)
            seen.append(request)
            writer.write(answer(request))
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), seen


@pytest_asyncio.fixture
async def server_factory() -> AsyncIterator[Callable[..., object]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer, close_after: int = 100) -> tuple[LeanClient, list[bytes]]:
        server, seen = await _serve(answer, close_after)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return LeanClient(f"http://127.0.0.1:{port}", {"X-API-Key": "k"}), seen

    yield start
    for server in servers:
        server.close()


def _json(status: int, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def test_posts_json_with_the_key_and_reads_the_answer(server_factory) -> None:
    client, seen = await server_factory(lambda _r: _json(201, b'{"lead_id":"a"}'))
    assert await client.request("POST", "/v1/leads", b'{"email":"x@y.z"}') == \
        (201, b'{"lead_id":"a"}', 1)
    assert seen[0].startswith(b"POST /v1/leads HTTP/1.1\r\n")
    assert b"X-API-Key: k\r\n" in seen[0] and seen[0].endswith(b'\r\n\r\n{"email":"x@y.z"}')
    await client.close()


async def test_a_connection_the_server_closed_is_replaced_and_the_request_sent_again(
        server_factory) -> None:
    client, seen = await server_factory(lambda _r: _json(200, b"{}"), close_after=1)
    assert (await client.request("POST", "/a", b"1"))[0] == 200
    # The kept connection is closed (or closing) on the server's side: either way the request
    # sent on it gets no answer, and goes again on a new connection.
    assert await client.request("POST", "/b", b"2") == (200, b"{}", 2)
    assert [r.split(b" ")[1] for r in seen] == [b"/a", b"/b"]
    await client.close()


async def test_chunked_answers_and_errors_are_read_whole(server_factory) -> None:
    chunked = (b"HTTP/1.1 422 X\r\ntransfer-encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    client, _seen = await server_factory(lambda _r: chunked)
    assert await client.request("POST", "/v1/leads", b"{}") == (422, b"hello world", 1)
    assert await client.request("POST", "/v1/leads", b"{}") == (422, b"hello world", 1)
    await client.close()
