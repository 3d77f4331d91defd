"""The statements of the hot path (lead.created, lead.updated, lead.activity), one per table
per batch, as SQL text on the transaction's asyncpg connection (prepared once per connection).

Arrays go in as Python lists with explicit casts; jsonb goes in as JSON text cast to jsonb.
The driver's UUIDs are a subclass of `uuid.UUID` (equal and hashed alike), used as they come.
"""

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from scoring.rules.domain import Activity, LeadScore

LOCK_LEADS = """
INSERT INTO leads AS l (lead_id)
SELECT id FROM unnest($1::uuid[]) AS t(id) ORDER BY id
ON CONFLICT (lead_id) DO UPDATE SET lead_id = excluded.lead_id
RETURNING l.*
"""

RECENT_ACTIVITIES = """
SELECT lead_id, activity_id, kind, occurred_at, url, event_id, seconds, numbers
FROM lead_activities WHERE lead_id = ANY($1::uuid[]) AND occurred_at > $2
"""

INSERT_ACTIVITIES = """
INSERT INTO lead_activities
    (activity_id, lead_id, kind, url, occurred_at, event_id, seconds, origin_lead_id, numbers)
SELECT a, l, k, u, o, e, s, g, n::jsonb
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
            $6::text[], $7::float8[], $8::uuid[], $9::text[]) AS t(a, l, k, u, o, e, s, g, n)
ON CONFLICT (activity_id) DO NOTHING
RETURNING activity_id
"""

# (column, element type); jsonb columns travel as text and are cast on the way in.
LEAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("profile", "jsonb"), ("consent", "jsonb"), ("source", "jsonb"),
    ("profile_at", "timestamptz"), ("profile_event_id", "text"),
    ("score", "int"), ("fit_score", "int"), ("engagement_score", "int"), ("grade", "text"),
    ("is_mql", "bool"), ("model_version", "int"), ("contributions", "jsonb"),
    ("scored_at", "timestamptz"), ("qualification", "text"), ("qualified_at", "timestamptz"),
    ("disqualified_rule", "text"), ("disqualified_reason", "text"),
    ("disqualified_at", "timestamptz"), ("win_probability", "float8"),
    ("last_event_id", "text"), ("last_event_type", "text"), ("last_event_at", "timestamptz"),
    ("expansion_score", "int"), ("expansion_qualified_at", "timestamptz"),
)
"""The columns the hot path writes: a changed lead's row is written whole, from its locked
state and what the batch changed."""


def _update_leads_sql() -> str:
    arrays = ", ".join(f"${n}::{'text' if kind == 'jsonb' else kind}[]"
                       for n, (_, kind) in enumerate(LEAD_COLUMNS, start=2))
    names = ", ".join(name for name, _ in LEAD_COLUMNS)
    sets = ", ".join(f"{name} = t.{name}{'::jsonb' if kind == 'jsonb' else ''}"
                     for name, kind in LEAD_COLUMNS)
    return (f"UPDATE leads AS l SET {sets} "
            f"FROM unnest($1::uuid[], {arrays}) AS t(lead_id, {names}) "
            f"WHERE l.lead_id = t.lead_id")


UPDATE_LEADS = _update_leads_sql()

INSERT_HISTORY = """
INSERT INTO score_history (lead_id, score, fit_score, engagement_score, grade, is_mql,
                           model_version, event_id, scored_at, win_probability)
SELECT lead_id, score, fit_score, engagement_score, grade, is_mql, model_version, event_id,
       scored_at, win_probability
FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::text[], $6::bool[], $7::int[],
            $8::text[], $9::timestamptz[], $10::float8[]) WITH ORDINALITY
     AS t(lead_id, score, fit_score, engagement_score, grade, is_mql, model_version, event_id,
          scored_at, win_probability, n)
ORDER BY n
"""


def decoded_json(value: Any) -> Any:
    """A jsonb value read through the driver: decoded by the connection's codec, or JSON text."""
    return orjson.loads(value) if isinstance(value, str) else value


async def lock_leads(driver: asyncpg.Connection,
                     lead_ids: Collection[UUID]) -> dict[UUID, dict[str, Any]]:
    """The leads' rows (created empty when unknown), locked in lead-id order until the
    transaction ends, so transactions locking several leads never deadlock; jsonb decoded."""
    if not lead_ids:
        return {}
    rows = await driver.fetch(LOCK_LEADS, sorted(set(lead_ids)))
    locked = {}
    for row in rows:
        values = dict(row)
        for name in ("profile", "consent", "source", "contributions", "consent_withdrawn"):
            values[name] = decoded_json(values[name])
        locked[row["lead_id"]] = values
    return locked


async def recent_activities(driver: asyncpg.Connection, lead_ids: Collection[UUID],
                            since: datetime) -> dict[UUID, list[Activity]]:
    """The leads' activities that happened after `since`, by lead."""
    by_lead: dict[UUID, list[Activity]] = defaultdict(list)
    if not lead_ids:
        return by_lead
    for row in await driver.fetch(RECENT_ACTIVITIES, list(lead_ids), since):
        by_lead[row["lead_id"]].append(Activity(
            activity_id=row["activity_id"], kind=row["kind"],
            occurred_at=row["occurred_at"], url=row["url"], event_id=row["event_id"],
            seconds=row["seconds"],
            numbers=None if row["numbers"] is None else decoded_json(row["numbers"])))
    return by_lead


async def insert_activities(driver: asyncpg.Connection,
                            rows: Sequence[tuple[UUID, Activity, UUID | None]]) -> set[UUID]:
    """Store activities (lead id, activity, the lead it was sent for when merged away) once
    each; the ids of those that were new (a known id is a repeat delivery)."""
    if not rows:
        return set()
    inserted = await driver.fetch(
        INSERT_ACTIVITIES,
        [a.activity_id for _, a, _ in rows], [lead_id for lead_id, _, _ in rows],
        [a.kind for _, a, _ in rows], [a.url for _, a, _ in rows],
        [a.occurred_at for _, a, _ in rows], [a.event_id for _, a, _ in rows],
        [a.seconds for _, a, _ in rows], [origin for _, _, origin in rows],
        [None if not a.numbers else orjson.dumps(a.numbers).decode() for _, a, _ in rows])
    return {row["activity_id"] for row in inserted}


def _stored(value: Any, kind: str) -> Any:
    if kind == "jsonb" and value is not None:
        return orjson.dumps(value).decode()
    return value


async def update_leads(driver: asyncpg.Connection,
                       rows: Mapping[UUID, Mapping[str, Any]]) -> None:
    """Write the LEAD_COLUMNS of changed leads (lead id -> every column's value)."""
    if not rows:
        return
    ids = sorted(rows)
    columns = [[_stored(rows[lead_id][name], kind) for lead_id in ids]
               for name, kind in LEAD_COLUMNS]
    await driver.execute(UPDATE_LEADS, ids, *columns)


async def insert_history(driver: asyncpg.Connection,
                         changes: Sequence[tuple[UUID, LeadScore, str | None, datetime]]) -> None:
    """Record changed scores in their leads' history, in order: (lead id, score, event, when)."""
    if not changes:
        return
    results = [result for _, result, _, _ in changes]
    await driver.execute(
        INSERT_HISTORY, [lead_id for lead_id, _, _, _ in changes],
        [r.score for r in results], [r.fit_score for r in results],
        [r.engagement_score for r in results], [r.grade for r in results],
        [r.is_mql for r in results], [r.model_version for r in results],
        [event_id for _, _, event_id, _ in changes], [at for _, _, _, at in changes],
        [r.win_probability for r in results])
