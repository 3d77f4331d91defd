"""A lean HTTP/1.1 client for the load generator: keep-alive connections over asyncio streams.

The load generator shares the two cores with the stack it measures, so what it spends is taken
from LeadLoop. httpx spent about 1.6 ms of CPU per POST here (16 % of a core at 100 leads/s);
this client writes a request's bytes and reads the answer's status line, headers and body,
nothing else (P1 and P3 use wrk, a C program, for the same reason). It speaks just what
uvicorn answers: a Content-Length or chunked body, keep-alive unless told to close.
"""

import asyncio
from urllib.parse import urlsplit


class ConnectionLost(ConnectionError):
    """The server closed the connection before answering (a keep-alive connection it had just
    closed, or a crash): the request may be sent again on a fresh one."""


class LeanClient:
    """POST and GET against one host, reusing idle connections: one open per request in
    flight, so the caller bounds the connections by bounding its requests."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"plain http URLs only: {base_url}")
        self._host, self._port = parts.hostname, parts.port or 80
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in
                              {"Host": f"{self._host}:{self._port}", **headers}.items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: bytes = b"",
                      content_type: str = "application/json") -> tuple[int, bytes, int]:
        """Send one request; (status, body, attempts). A reused connection found closed is
        replaced (another attempt); a fresh one that fails raises ConnectionLost or OSError."""
        head = (f"{method} {path} HTTP/1.1\r\n{self._fixed}Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        attempts = 0
        while True:
            attempts += 1
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await asyncio.open_connection(
                self._host, self._port)
            try:
                status, payload, keep_alive = await self._exchange(conn, head + body)
            except (ConnectionLost, ConnectionResetError, BrokenPipeError):
                conn[1].close()
                if reused:
                    continue
                raise
            except BaseException:
                conn[1].close()
                raise
            if keep_alive:
                self._idle.append(conn)
            else:
                conn[1].close()
            return status, payload, attempts

    async def close(self) -> None:
        """Close the idle connections."""
        for _reader, writer in self._idle:
            writer.close()
        self._idle.clear()

    @staticmethod
    async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                        request: bytes) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(request)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise ConnectionLost("closed before answering") from exc
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {name.strip().lower(): value.strip() for name, _, value in
                   (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            payload = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            payload = await _read_chunked(reader)
        else:  # no length: the body runs to the end of the connection
            return status, await reader.read(), False
        return status, payload, headers.get("connection", "").lower() != "close"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)  # the chunk and its CRLF
        if size == 0:
            return b"".join(chunks)
        chunks.append(chunk[:-2])
