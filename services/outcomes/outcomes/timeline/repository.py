"""Timeline queries: each lead's entries, written a batch at a time, read a page at a time."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import case, delete, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from outcomes.funnel.counted import survivors
from outcomes.funnel.repository import column_arrays, insert_unless_erased
from outcomes.tables import timeline_entries
from outcomes.timeline.domain import OTHER_KINDS_RANK, SAME_INSTANT_RANK, same_instant_rank


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One entry of a lead's timeline (a timeline_entries row)."""

    entry_id: str
    lead_id: UUID
    occurred_at: datetime
    type: str
    kind: str
    summary: str
    actor: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScoreEntry:
    """When the lead was last scored, and the score with its explanation."""

    occurred_at: datetime
    detail: dict[str, Any]


_ADD_TIMELINE_ENTRIES = insert_unless_erased(timeline_entries, "entry_id")

# The timeline's order: time, then cause before effect within an instant, then event id.
_RANK = case(SAME_INSTANT_RANK, value=timeline_entries.c.kind, else_=OTHER_KINDS_RANK)
TimelineKey = tuple[datetime, int, str]


def timeline_key(entry: TimelineEntry) -> TimelineKey:
    """Where `entry` stands in its timeline: what a page's cursor holds."""
    return entry.occurred_at, same_instant_rank(entry.kind), entry.entry_id


_TIMELINE_COLUMNS = [c.name for c in timeline_entries.c]


async def save_timeline(driver: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add a batch's timeline entries in one statement; an entry already kept (a redelivered
    event) and entries of an erased lead are not added."""
    if rows:
        await driver.execute(_ADD_TIMELINE_ENTRIES,
                             *column_arrays(timeline_entries, _TIMELINE_COLUMNS, rows))


async def erase_timeline(conn: AsyncConnection, lead_id: UUID) -> None:
    """Delete an erased lead's timeline: it is the story of a person."""
    await conn.execute(delete(timeline_entries).where(timeline_entries.c.lead_id == lead_id))


async def timeline_page(conn: AsyncConnection, lead_id: UUID,
                        after: Sequence[Any] | None, limit: int) -> list[TimelineEntry]:
    """Up to `limit` entries of a lead's timeline in time order (see `timeline_key`), after
    the one whose key is `after`: its own, and those of the duplicates merged into it (until
    the merge is undone), as a merged contact's timeline holds both records' history in HubSpot
    or Salesforce."""
    c = timeline_entries.c
    merged_in = select(survivors.c.lead_id).where(survivors.c.survivor == lead_id)
    query = select(timeline_entries).where(or_(c.lead_id == lead_id, c.lead_id.in_(merged_in)))
    if after is not None:
        query = query.where(tuple_(c.occurred_at, _RANK, c.entry_id) > tuple_(*after))
    query = query.order_by(c.occurred_at, _RANK, c.entry_id).limit(limit)
    return [TimelineEntry(**row._mapping) for row in await conn.execute(query)]


async def latest_score_entry(conn: AsyncConnection, lead_id: UUID) -> ScoreEntry | None:
    """The lead's latest score change (its explanation is the entry's detail), or None."""
    c = timeline_entries.c
    row = (await conn.execute(
        select(c.occurred_at, c.detail).where(c.lead_id == lead_id, c.kind == "scored")
        .order_by(c.occurred_at.desc(), c.entry_id.desc()).limit(1))).one_or_none()
    return None if row is None else ScoreEntry(row.occurred_at, row.detail)
