"""Every query about scoring's copy of a lead: its row, its activities, its erasure.

The hot path (lead.created, lead.updated, lead.activity) runs one statement per table per
batch, as SQL text on the transaction's asyncpg connection (prepared once per connection).
Arrays go in as Python lists with explicit casts; jsonb goes in as JSON text cast to jsonb.
The driver's UUIDs are a subclass of `uuid.UUID` (equal and hashed alike), used as they come.
The rarer events use SQLAlchemy Core on the unit of work's connection.
"""

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from sqlalchemy import BigInteger, ColumnElement, cast, delete, func, null, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.events.models import Consent, LeadProfile, LeadSource
from scoring.rules.activities import Activity
from scoring.rules.domain import LeadScore, Qualification, StoredLead
from scoring.tables import deal_outcomes, decoded_json, lead_activities, leads, score_history


def stored_lead_from(row: Mapping[Any, Any]) -> StoredLead:
    """A lead from a row of the leads table (jsonb decoded)."""
    profile, consent, source = row["profile"], row["consent"], row["source"]
    return StoredLead(
        lead_id=row["lead_id"],
        profile=None if profile is None else LeadProfile.model_validate(profile),
        consent=None if consent is None else Consent.model_validate(consent),
        source=None if source is None else LeadSource.model_validate(source),
        profile_at=row["profile_at"],
        profile_event_id=row["profile_event_id"],
        created_at=row["created_at"],
        score=row["score"],
        fit_score=row["fit_score"],
        engagement_score=row["engagement_score"],
        grade=row["grade"],
        is_mql=row["is_mql"],
        model_version=row["model_version"],
        qualification=Qualification(row["qualification"]),
        rejected_at=row["rejected_at"],
        disqualified_rule=row["disqualified_rule"],
        erased=row["erased_at"] is not None,
        merged_into=row["merged_into"],
        win_probability=row["win_probability"],
        consent_withdrawn=frozenset(row["consent_withdrawn"]),
        customer_since=row["customer_since"],
        expansion_score=row["expansion_score"],
        expansion_qualified_at=row["expansion_qualified_at"],
    )


async def lock_lead(conn: AsyncConnection, lead_id: UUID) -> StoredLead:
    """The lead's row, created empty when unknown, locked until the transaction ends.

    One statement: the no-op update on conflict takes the row lock and returns the row, so
    events about one lead from different topics (and consumers) apply one after the other.
    """
    new_row = insert(leads).values(lead_id=lead_id)
    statement = new_row.on_conflict_do_update(
        index_elements=[leads.c.lead_id], set_={"lead_id": new_row.excluded.lead_id},
    ).returning(*leads.c)
    return stored_lead_from((await conn.execute(statement)).one()._mapping)


async def update_lead(conn: AsyncConnection, lead_id: UUID, values: dict[str, Any]) -> None:
    """Set columns of a lead's row."""
    if values:
        await conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(**values))


def _activity_from_row(row: Any) -> Activity:
    """An activity from a row of ACTIVITY_COLUMNS."""
    return Activity(activity_id=row.activity_id, kind=row.kind, occurred_at=row.occurred_at,
                    url=row.url, event_id=row.event_id, seconds=row.seconds,
                    numbers=row.numbers)


ACTIVITY_COLUMNS = (lead_activities.c.activity_id, lead_activities.c.kind,
                     lead_activities.c.occurred_at, lead_activities.c.url,
                     lead_activities.c.event_id, lead_activities.c.seconds,
                     lead_activities.c.numbers)


async def activities_of(conn: AsyncConnection, lead_ids: list[UUID],
                        since: datetime | None = None) -> dict[UUID, list[Activity]]:
    """The activities of many leads in one query (after `since`, if given), by lead."""
    by_lead: dict[UUID, list[Activity]] = defaultdict(list)
    if not lead_ids:
        return by_lead
    statement = select(lead_activities.c.lead_id, *ACTIVITY_COLUMNS).where(
        lead_activities.c.lead_id.in_(lead_ids))
    if since is not None:
        statement = statement.where(lead_activities.c.occurred_at > since)
    for row in await conn.execute(statement):
        by_lead[row.lead_id].append(_activity_from_row(row))
    return by_lead


def scorable(engaged_only: bool = False) -> list[ColumnElement[bool]]:
    """Which leads a re-score or a backtest visits: known, not erased, not merged away (and,
    for decay, engaged)."""
    conditions: list[ColumnElement[bool]] = [leads.c.profile.is_not(None),
                                             leads.c.erased_at.is_(None),
                                             leads.c.merged_into.is_(None)]
    if engaged_only:
        conditions.append(leads.c.engagement_score != 0)
    return conditions


async def activity_counts(conn: AsyncConnection, lead_id: UUID) -> dict[str, int]:
    """How many activities of each kind a lead has."""
    rows = await conn.execute(
        select(lead_activities.c.kind, func.count())
        .where(lead_activities.c.lead_id == lead_id)
        .group_by(lead_activities.c.kind)
    )
    return {kind: count for kind, count in rows}


async def erase_lead(conn: AsyncConnection, lead_id: UUID, erased_at: datetime) -> None:
    """Delete everything about a lead, keeping only its id and erased_at as a tombstone.

    One statement: the deletes run as data-modifying CTEs of the tombstone update.
    """
    kept = {"lead_id", "erased_at", "first_seen_at"}
    cleared: dict[str, Any] = {c.name: null() for c in leads.c if c.name not in kept}
    cleared |= {"is_mql": False, "contributions": [], "consent_withdrawn": [],
                "qualification": Qualification.open.value,
                "activities_version": new_activities_version()}
    statement = update(leads).where(leads.c.lead_id == lead_id).values(
        **cleared, erased_at=erased_at)
    for table in (lead_activities, score_history, deal_outcomes):
        statement = statement.add_cte(
            delete(table).where(table.c.lead_id == lead_id).cte(f"erased_{table.name}")
        )
    await conn.execute(statement)


async def move_activities(conn: AsyncConnection, from_lead: UUID, to_lead: UUID) -> None:
    """Move a merged duplicate's activities to the surviving lead (merge)."""
    await conn.execute(update(lead_activities).where(lead_activities.c.lead_id == from_lead)
                       .values(lead_id=to_lead, origin_lead_id=func.coalesce(
                           lead_activities.c.origin_lead_id, lead_activities.c.lead_id)))
    await _activities_changed(conn, from_lead, to_lead)


async def restore_activities(conn: AsyncConnection, from_lead: UUID, to_lead: UUID) -> None:
    """Give a restored lead back the activities that were first its own (unmerge)."""
    await conn.execute(update(lead_activities).where(
        lead_activities.c.lead_id == from_lead, lead_activities.c.origin_lead_id == to_lead,
    ).values(lead_id=to_lead, origin_lead_id=None))
    await _activities_changed(conn, from_lead, to_lead)


async def _activities_changed(conn: AsyncConnection, *lead_ids: UUID) -> None:
    """Give the leads a new activities_version: what a consumer kept of their activities is
    stale."""
    await conn.execute(update(leads).where(leads.c.lead_id.in_(lead_ids))
                       .values(activities_version=new_activities_version()))


def new_activities_version() -> ColumnElement[int]:
    """A new random activities_version, drawn by the database (see `kept.new_version`)."""
    return cast(func.floor(func.random() * 9.2e18), BigInteger)


# `created`: the row is this statement's own (xmax is 0 only on a row inserted, not on one the
# conflict updated).
LOCK_LEADS = """
INSERT INTO leads AS l (lead_id)
SELECT id FROM unnest($1::uuid[]) AS t(id) ORDER BY id
ON CONFLICT (lead_id) DO UPDATE SET lead_id = excluded.lead_id
RETURNING l.*, l.xmax = 0 AS created
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
    ("profile_at", "timestamptz"), ("profile_event_id", "text"), ("created_at", "timestamptz"),
    ("score", "int"), ("fit_score", "int"), ("engagement_score", "int"), ("grade", "text"),
    ("is_mql", "bool"), ("model_version", "int"), ("contributions", "jsonb"),
    ("scored_at", "timestamptz"), ("qualification", "text"), ("qualified_at", "timestamptz"),
    ("disqualified_rule", "text"), ("disqualified_reason", "text"),
    ("disqualified_at", "timestamptz"), ("win_probability", "float8"),
    ("last_event_id", "text"), ("last_event_type", "text"), ("last_event_at", "timestamptz"),
    ("expansion_score", "int"), ("expansion_qualified_at", "timestamptz"),
    ("activities_version", "bigint"),
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

_HISTORY_TYPES = ("uuid", "int", "int", "int", "text", "bool", "int", "text", "timestamptz",
                  "float8")


def _insert_history_sql(first: int) -> str:
    """The history insert, its arrays numbered from ${first}."""
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_HISTORY_TYPES, start=first))
    return f"""
INSERT INTO score_history (lead_id, score, fit_score, engagement_score, grade, is_mql,
                           model_version, event_id, scored_at, win_probability)
SELECT lead_id, score, fit_score, engagement_score, grade, is_mql, model_version, event_id,
       scored_at, win_probability
FROM unnest({arrays}) WITH ORDINALITY
     AS t(lead_id, score, fit_score, engagement_score, grade, is_mql, model_version, event_id,
          scored_at, win_probability, n)
ORDER BY n
"""


INSERT_HISTORY = _insert_history_sql(1)

# A scored batch's changed rows and their history in one round trip (the two tables share no
# rows, so the two writes cannot see or block each other).
_SAVE_SCORES = (f"WITH updated AS ({UPDATE_LEADS})\n"
                f"{_insert_history_sql(len(LEAD_COLUMNS) + 2)}")


@dataclass(frozen=True, slots=True)
class LockedLead:
    """A lead locked for the batch: as the rules read it, and its row's columns by name (the
    hot path writes a changed row whole, so the columns it leaves alone keep their values)."""

    lead: StoredLead
    columns: dict[str, Any]
    # Created by this lock: the lead has no activities yet (they are stored only under its
    # row's lock, see apply_lead_events), so there are none to load.
    created: bool = False


async def lock_leads(driver: asyncpg.Connection,
                     lead_ids: Collection[UUID]) -> dict[UUID, LockedLead]:
    """The leads' rows (created empty when unknown), locked in lead-id order until the
    transaction ends, so transactions locking several leads never deadlock; jsonb decoded."""
    if not lead_ids:
        return {}
    rows = await driver.fetch(LOCK_LEADS, sorted(set(lead_ids)))
    locked = {}
    for row in rows:
        values = dict(row)
        created = values.pop("created")
        for name in ("profile", "consent", "source", "contributions", "consent_withdrawn"):
            values[name] = decoded_json(values[name])
        locked[row["lead_id"]] = LockedLead(stored_lead_from(values), values, created)
    return locked


async def recent_activities(driver: asyncpg.Connection, lead_ids: Collection[UUID],
                            since: datetime) -> dict[UUID, list[Activity]]:
    """The leads' activities that happened after `since`, by lead."""
    by_lead: dict[UUID, list[Activity]] = defaultdict(list)
    if not lead_ids:
        return by_lead
    # A batch of page views loads every recent activity of its leads (a hundred each on a busy
    # site): rows are unpacked in RECENT_ACTIVITIES' column order, not read by column name.
    rows = await driver.fetch(RECENT_ACTIVITIES, list(lead_ids), since)
    for lead_id, activity_id, kind, occurred_at, url, event_id, seconds, numbers in rows:
        by_lead[lead_id].append(Activity(
            activity_id, kind, occurred_at, url, event_id, seconds,
            None if numbers is None else decoded_json(numbers)))
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
    await driver.execute(UPDATE_LEADS, *_lead_arrays(rows))


def _lead_arrays(rows: Mapping[UUID, Mapping[str, Any]]) -> list[list[Any]]:
    ids = sorted(rows)
    return [ids, *([_stored(rows[lead_id][name], kind) for lead_id in ids]
                   for name, kind in LEAD_COLUMNS)]


def _history_arrays(changes: Sequence[tuple[UUID, LeadScore, str | None, datetime]]
                    ) -> list[list[Any]]:
    results = [result for _, result, _, _ in changes]
    return [[lead_id for lead_id, _, _, _ in changes],
            [r.score for r in results], [r.fit_score for r in results],
            [r.engagement_score for r in results], [r.grade for r in results],
            [r.is_mql for r in results], [r.model_version for r in results],
            [event_id for _, _, event_id, _ in changes], [at for _, _, _, at in changes],
            [r.win_probability for r in results]]


async def insert_history(driver: asyncpg.Connection,
                         changes: Sequence[tuple[UUID, LeadScore, str | None, datetime]]) -> None:
    """Record changed scores in their leads' history, in order: (lead id, score, event, when)."""
    if changes:
        await driver.execute(INSERT_HISTORY, *_history_arrays(changes))


async def save_scores(driver: asyncpg.Connection, rows: Mapping[UUID, Mapping[str, Any]],
                      changes: Sequence[tuple[UUID, LeadScore, str | None, datetime]]) -> None:
    """`update_leads` and `insert_history` together, in one statement when both have work."""
    if not rows or not changes:
        await update_leads(driver, rows)
        await insert_history(driver, changes)
        return
    await driver.execute(_SAVE_SCORES, *_lead_arrays(rows), *_history_arrays(changes))


