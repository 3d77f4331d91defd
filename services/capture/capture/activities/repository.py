"""Queries on activities and visitors: the set-based statements of a batch (on the
transaction's asyncpg connection) and a lead's timeline."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.leads.repository import from_jsonb, to_json
from capture.tables import activities
from leadloop.events.models import LeadSource, PropertyValue
from leadloop.pagination import Keyset


@dataclass(frozen=True)
class Activity:
    """One thing a person did (lead_id None while the visitor is anonymous)."""

    id: UUID
    lead_id: UUID | None
    visitor_id: str | None
    kind: str
    occurred_at: datetime
    url: str | None
    source: LeadSource
    properties: dict[str, PropertyValue]


def _activity(row: Any) -> Activity:
    return Activity(id=row["id"], lead_id=row["lead_id"], visitor_id=row["visitor_id"],
                    kind=row["kind"], occurred_at=row["occurred_at"], url=row["url"],
                    source=LeadSource.model_validate(from_jsonb(row["source"])),
                    properties=cast("dict[str, PropertyValue]", from_jsonb(row["properties"])))


_INSERT_ACTIVITIES = """
INSERT INTO activities (id, lead_id, visitor_id, kind, occurred_at, url, source, properties)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::text[], $7::jsonb[], $8::jsonb[])
ON CONFLICT (id) DO NOTHING RETURNING id"""

_ACTIVITIES = "SELECT id, lead_id FROM activities WHERE id = ANY($1::uuid[])"
_VISITOR_LEADS = "SELECT id, lead_id FROM visitors WHERE id = ANY($1::text[])"

_IDENTIFY = """
INSERT INTO visitors (id, lead_id, identified_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[])
ON CONFLICT (id) DO UPDATE SET lead_id = excluded.lead_id, identified_at = excluded.identified_at
"""

_ATTACH_ANONYMOUS = """
UPDATE activities AS a SET lead_id = v.lead_id
FROM unnest($1::text[], $2::uuid[]) AS v(visitor_id, lead_id)
WHERE a.visitor_id = v.visitor_id AND a.lead_id IS NULL
RETURNING a.id, a.lead_id, a.visitor_id, a.kind, a.occurred_at, a.url, a.source, a.properties"""


async def insert_activities(db: asyncpg.Connection, rows: Sequence[Activity]) -> set[UUID]:
    """Insert activities; the ids that went in (an id stored before is skipped: retries record
    nothing)."""
    if not rows:
        return set()
    inserted = await db.fetch(
        _INSERT_ACTIVITIES, [r.id for r in rows], [r.lead_id for r in rows],
        [r.visitor_id for r in rows], [r.kind for r in rows], [r.occurred_at for r in rows],
        [r.url for r in rows], [to_json(r.source) for r in rows],
        [to_json(r.properties) for r in rows])
    return {r["id"] for r in inserted}


async def activity_leads(db: asyncpg.Connection, activity_ids: Sequence[UUID]
                         ) -> dict[UUID, UUID | None]:
    """The lead each stored activity belongs to (None while anonymous)."""
    if not activity_ids:
        return {}
    return {r["id"]: r["lead_id"] for r in await db.fetch(_ACTIVITIES, list(activity_ids))}


async def visitor_leads(db: asyncpg.Connection, visitor_ids: Sequence[str]
                        ) -> dict[str, UUID | None]:
    """The lead each known visitor turned out to be."""
    if not visitor_ids:
        return {}
    return {r["id"]: r["lead_id"] for r in await db.fetch(_VISITOR_LEADS, list(visitor_ids))}


async def identify_visitors(db: asyncpg.Connection, links: Sequence[tuple[str, UUID]],
                            attach: Sequence[tuple[str, UUID]], now: datetime
                            ) -> list[Activity]:
    """Link visitors to leads (`links`: one per visitor, the last one wins) and attach each
    visitor's anonymous activities to a lead (`attach`); the activities attached."""
    if not links:
        return []
    # In visitor order: two batches identifying the same visitors never deadlock.
    links, attach = sorted(links), sorted(attach)
    await db.execute(_IDENTIFY, [v for v, _ in links], [lead for _, lead in links],
                     [now] * len(links))
    return [_activity(r) for r in await db.fetch(_ATTACH_ANONYMOUS, [v for v, _ in attach],
                                                 [lead for _, lead in attach])]


ACTIVITY_ORDER = Keyset((activities.c.occurred_at, activities.c.id),
                        (datetime.fromisoformat, UUID), descending=True)
"""A lead's activities are listed newest first."""


async def lead_activities(conn: AsyncConnection, lead_id: UUID, cursor: str | None,
                          limit: int) -> list[Activity]:
    """A page of a lead's activities, newest first (limit + 1 rows: ACTIVITY_ORDER.page
    cuts it)."""
    rows = await conn.execute(ACTIVITY_ORDER.select(
        select(activities).where(activities.c.lead_id == lead_id), cursor, limit))
    return [_activity(row._mapping) for row in rows]
