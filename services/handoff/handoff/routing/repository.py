"""The set-based statements of routing: one statement per table for a whole batch of leads,
whatever its size, as SQL text on the transaction's asyncpg connection (prepared once per
connection). Arrays travel as Python lists; jsonb travels as JSON text."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from handoff.assignments.domain import RoundRobinCursor
from handoff.customers.domain import Account, LeadStage
from handoff.customers.repository import accounts_query, stages_query
from handoff.tables import HELD_BY_REP_SQL, OPEN_STATUS_SQL
from leadloop.db import UnitOfWork

# Advisory locks on the leads, in lead-id order so two transactions never deadlock. The same key
# as repository.lock_lead: lead.created, lead.qualified, lead.erased, the SLA timer and the
# fallback queue all wait for each other on one lead.
_LOCK_LEADS = """
SELECT pg_advisory_xact_lock(hashtextextended(id::text, 0))
FROM unnest($1::uuid[]) AS t(id) ORDER BY id
"""

# What routing must know of a batch's leads, in one statement after their locks (not in the
# locking statement: under READ COMMITTED a statement's snapshot predates a lock it waits for):
# each lead's erasure, open assignment and arrival; the stages outcomes announced; the accounts
# of the leads' email domains. Arrays of rows, so the three reads stay three plain SELECTs.
_KNOWN_LEADS = f"""
SELECT
    ARRAY(SELECT (t.id,
                  EXISTS (SELECT 1 FROM erased_leads e WHERE e.lead_id = t.id),
                  EXISTS (SELECT 1 FROM assignments a
                          WHERE a.lead_id = t.id AND a.{OPEN_STATUS_SQL}),
                  (SELECT r.created_at FROM lead_arrivals r WHERE r.lead_id = t.id))
          FROM unnest($1::uuid[]) AS t(id)) AS states,
    ARRAY(SELECT s FROM ({stages_query("$1::uuid[]")}) AS s) AS stages,
    ARRAY(SELECT a FROM ({accounts_query("$2::text[]")}) AS a) AS accounts
"""

# Creates missing cursors and row-locks every pool in name order (the update is a no-op that
# takes the lock): routings into one pool, on any replica, run one transaction at a time and
# read each other's committed assignments and credits. The rep loads are read by the next
# statement, not in this one: this statement's snapshot is taken before it waits for the lock,
# so it would miss the assignments of the transaction that held the pool before us.
_LOCK_POOLS = """
INSERT INTO round_robin_cursors (pool)
SELECT pool FROM unnest($1::text[]) AS t(pool) ORDER BY pool
ON CONFLICT (pool) DO UPDATE SET credits = round_robin_cursors.credits
RETURNING pool, credits::text
"""

_REP_LOADS = f"""
SELECT rep_id, count(*) AS held FROM assignments
WHERE rep_id = ANY($1::uuid[]) AND {HELD_BY_REP_SQL}
GROUP BY rep_id
"""

_LEAD_COLUMNS = ("lead_id", "email", "first_name", "last_name", "company", "score", "grade",
                 "qualified_at", "context")
_SAVE_LEADS = f"""
INSERT INTO leads ({", ".join(_LEAD_COLUMNS)})
SELECT lead_id, email, first_name, last_name, company, score, grade, qualified_at, context::jsonb
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
            $8::timestamptz[], $9::text[]) AS t({", ".join(_LEAD_COLUMNS)})
ON CONFLICT (lead_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _LEAD_COLUMNS[1:])}, updated_at = now()
"""

_ASSIGNMENT_COLUMNS = ("id", "lead_id", "rep_id", "team", "status", "routing_rule",
                       "routing_reason", "handed_off_at", "sla_deadline", "rule_id",
                       "rule_version", "accept_sla_s", "breaches")
# The unique partial index keeps one open assignment per lead whoever inserts it.
_INSERT_ASSIGNMENTS = f"""
INSERT INTO assignments ({", ".join(_ASSIGNMENT_COLUMNS)})
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::timestamptz[], $9::timestamptz[], $10::uuid[], $11::int[],
                     $12::float8[], $13::int[])
ON CONFLICT (lead_id) WHERE {OPEN_STATUS_SQL} DO NOTHING
RETURNING id
"""

_INSERT_TIMERS = """
INSERT INTO sla_timers (assignment_id, kind, due_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
ON CONFLICT DO NOTHING
"""

_SAVE_CURSORS = """
UPDATE round_robin_cursors AS c SET credits = t.credits::jsonb, updated_at = now()
FROM unnest($1::text[], $2::text[]) AS t(pool, credits)
WHERE c.pool = t.pool
"""

# First event wins; the hand-off, if one happened already, is read in the same statement.
_RECORD_ARRIVALS = """
WITH arrived AS (
    INSERT INTO lead_arrivals (lead_id, created_at)
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING lead_id, created_at)
SELECT arrived.created_at,
       (SELECT min(a.handed_off_at) FROM assignments a WHERE a.lead_id = arrived.lead_id)
           AS handed_off_at
FROM arrived
"""


@dataclass(frozen=True, slots=True)
class LeadState:
    """What routing must know of a lead before it routes it."""

    erased: bool = False
    has_open_assignment: bool = False
    created_at: datetime | None = None  # from lead.created, if handoff has heard


@dataclass(frozen=True, slots=True)
class KnownLeads:
    """What handoff holds on a batch's leads: their states, the stages outcomes announced
    (leads without one are left out) and the accounts of their email domains (with the
    accounts their aliases point at)."""

    states: dict[UUID, LeadState]
    stages: dict[UUID, LeadStage]
    accounts: dict[str, Account]


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    """An assignment as routing writes it at hand-off (the stored one adds what happens
    after: assignments.repository.AssignmentRecord)."""

    id: UUID
    lead_id: UUID
    rep_id: UUID | None
    team: str
    status: str
    routing_rule: str
    routing_reason: str
    handed_off_at: datetime
    sla_deadline: datetime | None
    rule_id: UUID | None
    rule_version: int | None
    accept_sla_s: float
    breaches: int


async def lock_leads(uow: UnitOfWork, lead_ids: Sequence[UUID]) -> None:
    """Hold these leads until the transaction ends (one statement, in lead-id order)."""
    if lead_ids:
        await (await uow.driver()).execute(_LOCK_LEADS, list(lead_ids))


async def known_leads(uow: UnitOfWork, lead_ids: Sequence[UUID], domains: Iterable[str]
                      ) -> KnownLeads:
    """Each lead's state and stage, and the accounts of these email domains (one statement)."""
    row = await (await uow.driver()).fetchrow(_KNOWN_LEADS, list(lead_ids), sorted(set(domains)))
    assert row is not None  # a SELECT without FROM returns one row
    return KnownLeads(
        states={lead_id: LeadState(*state) for lead_id, *state in row["states"]},
        stages={lead_id: LeadStage(*stage) for lead_id, *stage in row["stages"]},
        accounts={account[0]: Account(*account) for account in row["accounts"]})


async def lock_pools(uow: UnitOfWork, pools: Sequence[str]) -> dict[str, RoundRobinCursor]:
    """Row-lock these round-robin pools (created when new) and read their credits."""
    if not pools:
        return {}
    rows = await (await uow.driver()).fetch(_LOCK_POOLS, sorted(set(pools)))
    return {row["pool"]: RoundRobinCursor.from_json(orjson.loads(row["credits"])) for row in rows}


async def rep_loads(uow: UnitOfWork, rep_ids: Sequence[UUID]) -> dict[UUID, int]:
    """How many open leads each of these reps holds (reps holding none are left out)."""
    if not rep_ids:
        return {}
    rows = await (await uow.driver()).fetch(_REP_LOADS, list(rep_ids))
    return {row["rep_id"]: int(row["held"]) for row in rows}


async def save_leads(uow: UnitOfWork, copies: Sequence[Mapping[str, Any]]) -> None:
    """Store handoff's copy of each lead (the latest qualification replaces the earlier)."""
    if copies:
        columns = [[copy[name] for copy in copies] for name in _LEAD_COLUMNS]
        columns[-1] = [orjson.dumps(context).decode() for context in columns[-1]]
        await (await uow.driver()).execute(_SAVE_LEADS, *columns)


async def insert_assignments(uow: UnitOfWork, rows: Sequence[AssignmentRow]) -> set[UUID]:
    """Insert open assignments; returns the ids inserted (a lead that already has an open
    assignment gets none)."""
    if not rows:
        return set()
    columns = [[getattr(row, name) for row in rows] for name in _ASSIGNMENT_COLUMNS]
    inserted = await (await uow.driver()).fetch(_INSERT_ASSIGNMENTS, *columns)
    return {row["id"] for row in inserted}


async def insert_timers(uow: UnitOfWork, timers: Sequence[tuple[UUID, str, datetime]]) -> None:
    """Schedule SLA timers: (assignment id, kind, due at)."""
    if timers:
        assignment_ids, kinds, due = zip(*timers, strict=True)
        await (await uow.driver()).execute(_INSERT_TIMERS, list(assignment_ids), list(kinds),
                                           list(due))


async def save_cursors(uow: UnitOfWork, cursors: Mapping[str, RoundRobinCursor]) -> None:
    """Store the pools' round-robin credits (their rows are locked by `lock_pools`)."""
    if cursors:
        pools = sorted(cursors)
        await (await uow.driver()).execute(
            _SAVE_CURSORS, pools,
            [orjson.dumps(cursors[pool].to_json()).decode() for pool in pools])


async def record_arrivals(uow: UnitOfWork, arrivals: Mapping[UUID, datetime]
                          ) -> list[tuple[datetime, datetime | None]]:
    """Remember when capture created each lead (first event wins); for each lead not known
    before: (created at, first hand-off or None)."""
    if not arrivals:
        return []
    rows = await (await uow.driver()).fetch(_RECORD_ARRIVALS, list(arrivals),
                                            list(arrivals.values()))
    return [(row["created_at"], row["handed_off_at"]) for row in rows]
