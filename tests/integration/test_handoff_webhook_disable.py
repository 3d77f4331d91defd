"""Webhook delivery on real PostgreSQL to a real HTTP receiver: a subscriber whose endpoint
keeps failing for the whole retry window is disabled; nothing is sent to it while disabled,
messages meanwhile are held in its delivery log, and an admin enabling it sends them."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from handoff.config import HandoffSettings
from handoff.webhooks import outbound
from handoff.webhooks import repository as webhook_repository
from handoff.webhooks import service as webhook_admin
from handoff.webhooks.schemas import SubscriberIn, SubscriberPatch
from handoff.webhooks.worker import deliver_due
from leadloop.app import Runtime
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadAccepted
from leadloop_devstack.stack import Stack
from tests.integration.conftest import migrated_engine
from tests.support import eventually, local_webhook_receiver

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]
ACCEPTED = "leadloop.lead.accepted.v1"


class _SalesTool(BaseHTTPRequestHandler):
    """Answers `code` to every POST and keeps what it got."""

    code: ClassVar[int] = 500
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(self.code)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sales_tool() -> Iterator[tuple[str, type[_SalesTool]]]:
    handler = type("SalesTool", (_SalesTool,), {"code": 500, "received": []})
    with local_webhook_receiver(handler) as url:
        yield url, handler


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh handoff database at the newest migration."""
    async with migrated_engine(stack, "handoff", "handoff_webhooks", pool_size=4) as engine:
        yield engine


async def _publish(engine: AsyncEngine) -> str:
    """Handoff publishes a lead.accepted (outbox + webhook deliveries); returns its lead id."""
    lead_id = uuid.uuid4()
    async with UnitOfWork(engine, "handoff") as uow:
        await outbound.publish(uow, LeadAccepted(
            lead_id=lead_id, assignment_id=uuid.uuid4(), rep_id=uuid.uuid4(),
            accepted_at=datetime.now(UTC)))
        await uow.commit()
    return str(lead_id)


async def _deliveries(engine: AsyncEngine, subscriber_id: uuid.UUID) -> dict[str, Any]:
    """The delivery log by lead id."""
    async with UnitOfWork(engine, "handoff") as uow:
        log, next_cursor = await webhook_admin.delivery_log(uow, subscriber_id, None, None, 100)
    assert next_cursor is None, "fewer than a page of deliveries"
    return {str(d.lead_id): d for d in log}


async def _subscriber(engine: AsyncEngine, subscriber_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return await webhook_repository.get_subscriber(conn, subscriber_id)


async def test_persistently_failing_subscriber_is_disabled_then_enabled_and_catches_up(
        engine: AsyncEngine, sales_tool: tuple[str, type[_SalesTool]]) -> None:
    url, receiver = sales_tool
    settings = HandoffSettings(webhook_retry_window_s=0.5, webhook_retry_base_s=0.05,
                               webhook_retry_max_s=0.1, webhook_timeout_s=5,
                               # the receiver listens on 127.0.0.1: allowed explicitly
                               webhook_allowed_networks="127.0.0.0/8")
    runtime = Runtime(settings=settings, engine=engine, producer=None)  # type: ignore[arg-type]
    async with UnitOfWork(engine, "handoff") as uow:
        row, secret = await webhook_admin.create_subscriber(uow, SubscriberIn(
            name="crm", url=url, event_types=[ACCEPTED]))  # type: ignore[arg-type]
        await uow.commit()
    subscriber_id = row.id

    async with httpx.AsyncClient(timeout=5) as client:
        lost = await _publish(engine)

        async def failed_for_good() -> None:
            await deliver_due(runtime, client, settings)
            assert (await _deliveries(engine, subscriber_id))[lost].status == "failed"

        await eventually(failed_for_good, timeout_s=30, interval_s=0.05)
        failed = (await _deliveries(engine, subscriber_id))[lost]
        assert failed.attempts >= 2 and {a.status_code for a in failed.log} == {500}
        disabled = await _subscriber(engine, subscriber_id)
        assert disabled.enabled is False
        assert "failed for the whole retry window" in disabled.disabled_reason

        # Disabled: a new message is logged as held and nothing reaches the receiver.
        sent_before = len(receiver.received)
        missed = await _publish(engine)
        assert await deliver_due(runtime, client, settings) == 0
        assert len(receiver.received) == sent_before
        assert (await _deliveries(engine, subscriber_id))[missed].status == "held"

        # The sales tool is fixed; an admin enables the subscriber (PATCH {"enabled": true}).
        receiver.code = 200
        async with UnitOfWork(engine, "handoff") as uow:
            enabled = await webhook_admin.update_subscriber(uow, subscriber_id,
                                                            SubscriberPatch(enabled=True))
            await uow.commit()
        assert enabled.enabled is True and enabled.disabled_reason is None
        fresh = await _publish(engine)

        async def caught_up() -> None:
            await deliver_due(runtime, client, settings)
            log = await _deliveries(engine, subscriber_id)
            assert log[missed].status == "delivered" and log[fresh].status == "delivered"

        await eventually(caught_up, timeout_s=30, interval_s=0.05)

    log = await _deliveries(engine, subscriber_id)
    assert log[lost].status == "failed", "a message that failed for good is not sent again"
    verifier = Webhook(secret)
    assert sorted(verifier.verify(body, headers)["data"]["lead_id"]
                  for headers, body in receiver.received[sent_before:]) == sorted([missed, fresh])
