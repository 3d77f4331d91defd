"""A lead's timeline on real PostgreSQL: within one instant an entry comes after the entry that
caused it, whatever their event ids say, on one page and walked a page at a time."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from leadloop.db import UnitOfWork, create_engine
from leadloop_devstack.stack import Stack
from outcomes.timeline import repository
from tests.integration.conftest import migrated_database

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

CREATED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SCORED_AT = datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC)
# (kind, when, the first hex digit of its event id): the ids sort in the reverse of the story,
# as random ids do half the time, so id order alone would tell it backwards.
STORY = [("created", CREATED_AT, "f"), ("consent_changed", CREATED_AT, "a"),
         ("stage_changed", CREATED_AT, "0"),
         ("scored", SCORED_AT, "e"), ("qualified", SCORED_AT, "5"),
         ("stage_changed", SCORED_AT, "1")]


def _rows(lead_id: uuid.UUID) -> list[dict[str, Any]]:
    return [{"entry_id": f"{digit * 8}-0000-4000-8000-{n:012d}", "lead_id": lead_id,
             "occurred_at": at, "type": f"leadloop.lead.{kind}.v1", "kind": kind,
             "summary": kind, "actor": None, "detail": {}}
            for n, (kind, at, digit) in enumerate(STORY)]


async def test_an_entry_comes_after_its_cause_within_an_instant(stack: Stack) -> None:
    engine = create_engine(await migrated_database(stack, "outcomes", "timeline_order"),
                           pool_size=1)
    lead_id = uuid.uuid4()
    try:
        async with UnitOfWork(engine, "outcomes") as uow:
            await repository.save_timeline(await uow.driver(), _rows(lead_id))
            await uow.commit()
        story = [kind for kind, _at, _digit in STORY]
        async with engine.connect() as conn:
            whole = await repository.timeline_page(conn, lead_id, None, 100)
            assert [entry.kind for entry in whole] == story
            walked, after = [], None
            while page := await repository.timeline_page(conn, lead_id, after, 1):
                walked += page
                after = repository.timeline_key(page[-1])
        assert walked == whole
    finally:
        await engine.dispose()
