"""Real receivers for nurture's scheduler tests: an SMTP server (aiosmtpd) whose answers a test
scripts, and an HTTP channel adapter (uvicorn) that checks signatures like a real one would."""

import asyncio
import email
import json
import socket
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class ScriptedSmtp:
    """An SMTP server that records every DATA attempt and answers as the test says: a queue of
    replies (e.g. "451 ..." once), then 250; `hold` keeps a DATA open until it is set."""

    replies: deque[str] = field(default_factory=deque)
    hold: asyncio.Event | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: list[Message] = field(default_factory=list)
    accepted: list[Message] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        self.attempts.append(message)
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        if self.replies:
            return self.replies.popleft()
        self.accepted.append(message)
        return "250 OK"

    async def __aenter__(self) -> "ScriptedSmtp":
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self, hostname="it-smtp"),
                                                "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        assert self._server is not None
        self._server.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Delivery:
    """One request the adapter received, with whether its signature checked out."""

    payload: dict[str, Any]
    idempotency_key: str | None
    signature_valid: bool


def verifier(secret: str) -> Webhook:
    """The `standardwebhooks` verifier of a nurture channel secret ("whsec_..." as the library
    reads it, any other text as its bytes, as leadloop.webhooks signs)."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


@dataclass
class ChannelAdapter:
    """An SMS (or voice, fax...) provider's adapter: verifies the Standard Webhooks signature
    with the `standardwebhooks` library, records the request, and answers with the next
    scripted status (then 200). Nurture must be allowed to reach loopback
    (webhook_allowed_networks)."""

    secret: str
    statuses: deque[int] = field(default_factory=deque)
    received: list[Delivery] = field(default_factory=list)
    port: int = field(default_factory=_free_port)
    _task: asyncio.Task[None] | None = None
    _server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/messages"

    def _verify(self, headers: dict[str, str], body: bytes) -> bool:
        try:
            verifier(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.received.append(Delivery(
            payload=json.loads(body), idempotency_key=request.headers.get("webhook-id"),
            signature_valid=self._verify(dict(request.headers), body)))
        code = self.statuses.popleft() if self.statuses else 200
        return JSONResponse({"status": code}, status_code=code)

    async def __aenter__(self) -> "ChannelAdapter":
        app = Starlette(routes=[Route("/messages", self._receive, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task
