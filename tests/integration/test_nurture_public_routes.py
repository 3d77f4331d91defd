"""Nurture's public routes against real PostgreSQL: click links redirect only to targets stored
with their message, and every public route is rate limited per client IP across replicas."""

import base64
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import insert

from leadloop.app import Runtime
from leadloop.db import create_engine
from leadloop.kafka import create_producer
from leadloop_devstack.stack import Stack
from nurture.config import NurtureSettings
from nurture.tables import messages
from nurture.tracking.api import router
from nurture.tracking.tokens import click_token, message_token
from tests.integration.conftest import migrated_database

pytestmark = pytest.mark.asyncio

TARGET = "https://leadloop.example/guides/getting-started"
PUBLISHED_DEFAULT = "dev-only-link-secret-change-me"


@pytest_asyncio.fixture
async def settings(stack: Stack) -> AsyncIterator[NurtureSettings]:
    url = await migrated_database(stack, "nurture", "nurture_pub")
    yield NurtureSettings(database_url=url, kafka_bootstrap_servers=stack.bootstrap_servers,
                          link_secret="a" * 64, webhook_secret="b" * 64,
                          public_per_ip_per_minute=6)


@pytest_asyncio.fixture
async def app(settings: NurtureSettings) -> AsyncIterator[FastAPI]:
    """Two replicas' worth of nothing but the public routes, on one database."""
    engine = create_engine(settings.database_url, 3)
    app = FastAPI()
    app.include_router(router)
    app.state.runtime = Runtime(settings=settings, engine=engine,
                                producer=create_producer(settings.kafka_bootstrap_servers,
                                                         "nurture-pub-it"))
    yield app
    await app.state.runtime.producer.stop()
    await engine.dispose()


def _client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://nurture.test")


async def _message(app: FastAPI, links: list[str]) -> uuid.UUID:
    message_id = uuid.uuid4()
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(insert(messages).values(
            id=message_id, enrollment_id=uuid.uuid4(), lead_id=uuid.uuid4(),
            sequence_key="welcome", sequence_version=1, step=0, channel="email",
            template="welcome", status="sent", sent_at=datetime.now(UTC), links=links))
    return message_id


async def test_a_click_link_leads_only_to_a_target_stored_with_its_message(app: FastAPI) -> None:
    message_id = await _message(app, [TARGET])
    secret = app.state.runtime.settings.link_secret
    async with _client(app, "198.51.100.1") as http:
        # The old form, even signed with the real secret: the target in the link is refused.
        mac = hmac.new(secret.encode(), f"click\x1f{message_id}\x1fhttps://evil.test/x".encode(),
                       hashlib.sha256).digest()[:12]
        sig = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        old = await http.get("/c", params={"m": str(message_id), "u": "https://evil.test/x",
                                           "s": sig})
        assert old.status_code == 410 and "location" not in old.headers
        # A link number the message does not have, a link signed with the published default.
        for token in (click_token(secret, message_id, 1),
                      click_token(PUBLISHED_DEFAULT, message_id, 0),
                      click_token(secret, uuid.uuid4(), 0), "x" * 40):
            refused = await http.get(f"/c/{token}")
            assert refused.status_code == 404 and "location" not in refused.headers, token


async def test_public_routes_are_limited_per_client_ip(app: FastAPI) -> None:
    secret = app.state.runtime.settings.link_secret
    message_id = uuid.uuid4()
    routes = [("GET", f"/o/{message_token(secret, 'open', message_id)}.gif"),
              ("GET", f"/c/{click_token(secret, message_id, 0)}"),
              ("GET", f"/u/{message_token(secret, 'unsubscribe', message_id)}"),
              ("POST", f"/u/{message_token(secret, 'unsubscribe', message_id)}")]
    async with _client(app, "203.0.113.7") as noisy, _client(app, "203.0.113.8") as other:
        answers = [await noisy.request(method, path) for method, path in routes * 2]
        assert all(a.status_code != 429 for a in answers[:6]), [a.status_code for a in answers]
        for limited in answers[6:]:  # past 6 a minute, whichever public route it is
            assert limited.status_code == 429, limited.text
            assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await other.request(*routes[0])).status_code == 200  # another address is free
