"""The digest scheduler on real PostgreSQL and a real SMTP server (aiosmtpd): one row per
period however many workers schedule it, one sender per row under concurrency, and a send that
fails for some recipients is retried for those only, with the same frozen digest."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.app import Runtime
from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent, event_type_of
from leadloop.handlers import Item
from leadloop_devstack.stack import Stack
from outcomes.config import OutcomesSettings
from outcomes.digest import repository as digest_queries
from outcomes.digest.schedule import parse_schedule
from outcomes.digest.worker import schedule_periods, work_one
from outcomes.handlers import HANDLERS
from outcomes.tables import digests
from tests.integration.conftest import migrated_database
from tests.support import eventually
from tests.support.outcomes_stories import generate_stories, story_events

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


class Sink:
    """aiosmtpd handler: keeps (recipients, Message-ID, digest period); refuses bounce.invalid
    for good, `flaky` addresses for now (451) while `flaky` is set; DATA can be slowed down."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], str, str]] = []
        self.flaky = True
        self.data_delay_s = 0.0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address.endswith("@bounce.invalid"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("flaky") and self.flaky:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.data_delay_s)
        parsed = message_from_bytes(envelope.content, policy=default_policy)
        self.received.append((list(envelope.rcpt_tos), str(parsed["Message-ID"]),
                              str(parsed["X-LeadLoop-Digest"])))
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh outcomes database with a month of generated leads in its read model."""
    url = await migrated_database(stack, "outcomes", "outcomes_digest")
    engine = create_engine(url, pool_size=4)
    async with UnitOfWork(engine, "outcomes") as uow:
        for story in generate_stories(120, seed=3):
            for event in story_events(story):
                envelope = CloudEvent(type=event_type_of(event), source="test",  # type: ignore[arg-type]
                                      subject=str(event.lead_id), data={})  # type: ignore[attr-defined]
                await HANDLERS.apply(uow, [Item(event, envelope)])
        await uow.commit()
    yield engine
    await engine.dispose()


def _runtime(engine: AsyncEngine, port: int, **settings: Any) -> Runtime:
    config = OutcomesSettings(**{
        "smtp_port": port, "digest_delay_s": 0, "digest_retry_s": 0.05,
        "digest_recipients": "boss@leadloop.test, flaky@leadloop.test, gone@bounce.invalid",
        **settings})
    return Runtime(settings=config, engine=engine, producer=None)  # type: ignore[arg-type]


async def _row(engine: AsyncEngine, period: str) -> digest_queries.DigestRow:
    async with engine.connect() as conn:
        row = await digest_queries.get(conn, period)
    assert row is not None
    return row


async def test_failed_recipients_are_retried_alone_with_the_same_digest(
        engine: AsyncEngine, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    runtime = _runtime(engine, port)
    settings = runtime.settings
    assert isinstance(settings, OutcomesSettings)
    week = parse_schedule("week")
    # The week of 14 October and the one before it: both long past, so both due.
    await schedule_periods(runtime, week, settings, datetime(2026, 10, 14, tzinfo=UTC))

    assert await work_one(runtime, week, settings)  # 2026-W41
    assert await work_one(runtime, week, settings)  # 2026-W42
    first = await _row(engine, "2026-W42")
    assert first.status == "composed" and first.attempts == 1
    assert first.recipients == {"pending": ["flaky@leadloop.test"],
                                "delivered": ["boss@leadloop.test"],
                                "refused": {"gone@bounce.invalid": pytest.approx(
                                    "550 5.1.1 mailbox unavailable")}}
    assert "451" in (first.last_error or "")
    assert first.content is not None and first.content["headline"]["leads"] > 0

    # The mail server recovers; the retry goes to the pending recipient only.
    handler.flaky = False

    async def retried() -> None:  # the row is due again after digest_retry_s
        await work_one(runtime, week, settings)
        assert (await _row(engine, "2026-W42")).status == "sent"
    await eventually(retried, timeout_s=10)
    done = await _row(engine, "2026-W42")
    assert done.status == "sent" and done.attempts == 2
    assert done.recipients is not None
    assert done.recipients["delivered"] == ["boss@leadloop.test", "flaky@leadloop.test"]
    assert done.content == first.content and done.composed_at == first.composed_at
    w42 = [(rcpt, mid) for rcpt, mid, period in handler.received if period == "2026-W42"]
    assert w42 == [(["boss@leadloop.test"], "<digest.2026.W42@leadloop.local>"),
                   (["flaky@leadloop.test"], "<digest.2026.W42@leadloop.local>")]
    # Nothing is due any more: nothing more is sent.
    assert not await work_one(runtime, week, settings)


async def test_concurrent_workers_schedule_once_and_send_each_period_once(
        engine: AsyncEngine, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    handler.flaky = False
    handler.data_delay_s = 0.3  # a slow server: the workers overlap while one holds a row
    workers = [_runtime(engine, port, digest_recipients="boss@leadloop.test")
               for _ in range(4)]
    day = parse_schedule("day")
    settings = workers[0].settings
    assert isinstance(settings, OutcomesSettings)
    now = datetime(2026, 10, 20, 12, tzinfo=UTC)
    await asyncio.gather(*(schedule_periods(w, day, settings, now) for w in workers))
    await asyncio.gather(*(schedule_periods(w, day, settings, now) for w in workers))
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(digests)) == 2

    async def drain(runtime: Runtime) -> None:
        while await work_one(runtime, day, settings):
            pass
    await asyncio.gather(*(drain(w) for w in workers))
    periods = sorted(period for _, _, period in handler.received)
    assert periods == ["2026-10-19", "2026-10-20"]
    for period in periods:
        row = await _row(engine, period)
        assert row.status == "sent" and row.attempts == 1
