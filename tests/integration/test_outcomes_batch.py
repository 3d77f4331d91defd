"""Outcomes' batch handlers on real PostgreSQL: a batch mixing many leads, several events of one
lead, a rejection, erasures and a poison event stores what applying the events one at a time
stores, with a fixed number of statements whatever the batch's size."""

import random
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import LeadErased, LeadScored
from leadloop.handlers import Item
from leadloop_devstack.stack import Stack
from outcomes.handlers import HANDLERS
from outcomes.tables import READ_MODEL_TABLES
from tests.integration.conftest import migrated_database
from tests.support.outcomes_stories import MONTH_START, generate_stories, story_events

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

STORIES = generate_stories(60, seed=41)
TABLES = ("funnel_leads", "touches", "closed_deals", "deals", "outbox", "processed_events")


@pytest_asyncio.fixture
async def engines(stack: Stack) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two fresh outcomes databases: one fed an event at a time, one fed batches."""
    made = []
    for tag in ("outcomes_one", "outcomes_batch"):
        made.append(create_engine(await migrated_database(stack, "outcomes", tag), pool_size=2))
    yield made[0], made[1]
    for engine in made:
        await engine.dispose()


def _items(events: Sequence[EventData]) -> list[Item[EventData]]:
    return [Item(e, CloudEvent(type=event_type_of(e), source="test",
                               subject=str(e.lead_id), data={}))  # type: ignore[attr-defined]
            for e in events]


@contextmanager
def _counting(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements run through SQLAlchemy on `engine` while inside (driver statements are
    added by `_apply_counted`)."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def _apply_counted(engine: AsyncEngine, items: list[Item[EventData]]) -> int:
    """Apply `items` in one transaction; the number of SQL statements it took."""
    with _counting(engine) as seen:
        async with UnitOfWork(engine, "outcomes") as uow:
            driver = await uow.driver()

            def log(query: Any) -> None:
                seen.append(query.query)
            driver.add_query_logger(log)
            try:
                await HANDLERS.apply(uow, items)
                await uow.commit()
            finally:
                driver.remove_query_logger(log)
    # Only statements on the service's tables: not the driver's one-off type introspection
    # on a new connection.
    return sum(1 for s in seen if any(f" {table}" in s for table in TABLES))


async def _apply_one_at_a_time(engine: AsyncEngine, items: list[Item[EventData]]) -> None:
    for item in items:
        try:
            async with UnitOfWork(engine, "outcomes") as uow:
                await HANDLERS.apply(uow, [item])
                await uow.commit()
        except Exception:  # the poison event: the runner would dead-letter it
            pass


async def _apply_as_the_runner_does(engine: AsyncEngine, items: list[Item[EventData]]) -> None:
    """The whole batch in one transaction; when it fails, each event alone (the runner halves
    the batch down to the failing event: the same end), so a failing event takes nothing else
    with it."""
    try:
        await _apply_counted(engine, items)
    except Exception:
        await _apply_one_at_a_time(engine, items)


async def _stored(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, without what is random per run (anonymous ids, update times)."""
    random_columns = {"updated_at"}
    stored = {}
    async with engine.connect() as conn:
        for table in READ_MODEL_TABLES:
            rows = (await conn.execute(select(table))).mappings().all()
            anonymous = {r["lead_id"] for r in rows if r.get("anonymous")} | {
                r["lead_id"] for r in rows if str(r.get("touch_id", "")).startswith("anonymous:")}
            stored[table.name] = sorted(
                tuple(str(v) for k, v in row.items() if k not in random_columns
                      and not (row["lead_id"] in anonymous and k in ("lead_id", "touch_id",
                                                                      "deal_id")))
                for row in rows)
    return stored


def _mixed_batch() -> list[Item[EventData]]:
    """Every story's events interleaved across leads (each lead's in order), then erasures of
    a few leads, and a poison event (a score no column can hold) in the middle."""
    rng = random.Random(5)
    queues = [story_events(s) for s in STORIES]
    events: list[EventData] = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        events.append(queue.pop(0))
    poison = LeadScored(lead_id=STORIES[3].lead_id, score=2**40, fit_score=0,
                        engagement_score=0, grade="A", model_version=1, is_mql=True,
                        scored_at=MONTH_START + timedelta(days=60))
    events.insert(len(events) // 2, poison)
    erased = [s.lead_id for s in STORIES[::7]]
    events += [LeadErased(lead_id=lead, erased_at=MONTH_START + timedelta(days=50))
               for lead in erased]
    # A late event about an erased lead and a repeated event change nothing.
    events += [story_events(STORIES[0])[0], events[10]]
    return _items(events)


async def test_a_mixed_batch_stores_what_one_event_at_a_time_stores(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    one_at_a_time, batched = engines
    items = _mixed_batch()
    assert any(isinstance(i.event, LeadErased) for i in items)
    await _apply_one_at_a_time(one_at_a_time, items)
    await _apply_as_the_runner_does(batched, items)
    want = await _stored(one_at_a_time)
    assert len(want["funnel_leads"]) == len(STORIES) + len(STORIES[::7])  # + anonymous rows
    assert await _stored(batched) == want

    # Without the poison event the batch is one transaction, and stores the same again.
    async with batched.begin() as conn:
        for table in READ_MODEL_TABLES:
            await conn.execute(table.delete())
    clean = [i for i in items if not (isinstance(i.event, LeadScored) and i.event.score > 2**31)]
    await _apply_counted(batched, clean)
    assert await _stored(batched) == want


async def test_a_batch_takes_the_same_statements_whatever_its_size(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _, engine = engines
    stories = generate_stories(200, seed=43)
    counts = {}
    for leads in (10, 100):
        batch = stories[:leads] if leads == 10 else stories[10:10 + leads]
        items = _items([e for s in batch for e in story_events(s)])
        counts[leads] = (len(items), await _apply_counted(engine, items))
    print(f"statements per batch (events, statements): {counts}")
    # The funnel upsert, the touch log, the timeline, closed deals and the lifecycle stages
    # they move: one statement each (the ten leads may have no closed deal).
    assert counts[10][1] <= counts[100][1] == 5
    # A fresh lead's first events too (nothing stored yet), batched with other leads' events.
    fresh = _items([e for s in generate_stories(30, seed=44) for e in story_events(s)]
                   + [e for s in stories[:10] for e in story_events(s)])
    assert await _apply_counted(engine, fresh) <= 5


async def test_erasures_in_a_batch_leave_the_counts_and_no_trace(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _, engine = engines
    story = STORIES[1]
    items = _items([*story_events(story), LeadErased(lead_id=story.lead_id,
                                                     erased_at=MONTH_START + timedelta(days=40))])
    await _apply_counted(engine, items)
    stored = await _stored(engine)
    lead = str(story.lead_id)
    assert not any(lead in " ".join(row) for name in ("touches", "closed_deals")
                   for row in stored[name])
    # The tombstone (erased, nothing else) and the anonymous row that keeps the counts.
    [tombstone] = [row for row in stored["funnel_leads"] if row[0] == lead]
    assert tombstone[1] == "True" and set(tombstone[3:]) == {"None"}
    assert len(stored["funnel_leads"]) == 2
