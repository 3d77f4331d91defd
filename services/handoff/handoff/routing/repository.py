"""The set-based statements of routing: a fixed few for a whole batch of leads, whatever its
size (lock the leads, read them, lock the pools, read the reps' loads, store the hand-offs), as
SQL text on the transaction's asyncpg connection (prepared once per connection). Arrays travel
as Python lists; jsonb travels as JSON text."""

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
from handoff.webhooks.repository import Message, enqueue_from
from leadloop.db import UnitOfWork

# Advisory locks on the leads, in lead-id order so two transactions never deadlock. The same key
# as repository.lock_lead: lead.qualified, lead.erased, a manual assignment and the fallback
# queue all wait for each other on one lead (the SLA timer's breaches only try: below).
_LOCK_LEADS = """
SELECT pg_advisory_xact_lock(hashtextextended(id::text, 0))
FROM unnest($1::uuid[]) AS t(id) ORDER BY id
"""

# The same locks taken only where free, in lead-id order, without waiting: the leads whose lock
# this transaction now holds. For a caller already holding row locks (the SLA timer's claimed
# assignments), which must never wait for a lead's lock: see sla.worker.
_TRY_LOCK_LEADS = """
SELECT id FROM (SELECT DISTINCT id FROM unnest($1::uuid[]) AS t(id) ORDER BY id) AS t
WHERE pg_try_advisory_xact_lock(hashtextextended(id::text, 0))
"""

# What routing must know of a batch's leads, in one statement after their locks (not in the
# locking statement: under READ COMMITTED a statement's snapshot predates the locks it takes,
# so it could miss what the lock's previous holder committed):
# each lead's erasure, open assignment and recorded arrival (see LeadState); the stages outcomes
# announced; the accounts of the leads' email domains. Arrays of rows, so the three reads stay
# three plain SELECTs.
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
# statement, not in this one: this statement's snapshot is taken before it takes the locks (and
# before any wait for them), so it could miss the assignments of the transaction that held the
# pool before us, and a rep would be given more leads than its capacity.
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
_ASSIGNMENT_COLUMNS = ("id", "lead_id", "rep_id", "team", "status", "routing_rule",
                       "routing_reason", "handed_off_at", "sla_deadline", "rule_id",
                       "rule_version", "accept_sla_s", "breaches")
# A hand-off's every row in one statement: $1-$9 lead copies (the latest qualification replaces
# the earlier), $10-$22 assignments, $23-$25 SLA timers, $26-$27 round-robin credits (their rows
# are locked by lock_pools), $28-$31 webhook messages. The unique partial index keeps one open
# assignment per lead whoever inserts it; unless every planned assignment is inserted, the
# timers, credits and messages are not written (`complete`), and the caller decides whether
# that is an error. The lead copies are written either way: the assignments inserted refer to
# them (foreign key, checked at the statement's end).
_STORE_HANDOFFS = f"""
WITH assigned AS (
    INSERT INTO assignments ({", ".join(_ASSIGNMENT_COLUMNS)})
    SELECT * FROM unnest($10::uuid[], $11::uuid[], $12::uuid[], $13::text[], $14::text[],
                         $15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[],
                         $19::uuid[], $20::int[], $21::float8[], $22::int[])
    ON CONFLICT (lead_id) WHERE {OPEN_STATUS_SQL} DO NOTHING
    RETURNING id
), complete AS (
    SELECT count(*) = cardinality($10::uuid[]) AS ok FROM assigned
), copies AS (
    INSERT INTO leads ({", ".join(_LEAD_COLUMNS)})
    SELECT lead_id, email, first_name, last_name, company, score, grade, qualified_at,
           context::jsonb
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
                $7::text[], $8::timestamptz[], $9::text[]) AS t({", ".join(_LEAD_COLUMNS)})
    ON CONFLICT (lead_id) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in _LEAD_COLUMNS[1:])}, updated_at = now()
), timers AS (
    INSERT INTO sla_timers (assignment_id, kind, due_at)
    SELECT * FROM unnest($23::uuid[], $24::text[], $25::timestamptz[])
    WHERE (SELECT ok FROM complete)
    ON CONFLICT DO NOTHING
), credits AS (
    UPDATE round_robin_cursors AS c SET credits = t.credits::jsonb, updated_at = now()
    FROM unnest($26::text[], $27::text[]) AS t(pool, credits)
    WHERE c.pool = t.pool AND (SELECT ok FROM complete)
), messages AS (
    SELECT * FROM unnest($28::uuid[], $29::text[], $30::uuid[], $31::text[])
        WITH ORDINALITY AS m(event_id, event_type, lead_id, body, n)
    WHERE (SELECT ok FROM complete)
), deliveries AS ({enqueue_from("messages AS m")})
SELECT id FROM assigned
"""

@dataclass(frozen=True, slots=True)
class LeadState:
    """What routing must know of a lead before it routes it."""

    erased: bool = False
    has_open_assignment: bool = False
    # When the lead arrived, as handoff recorded it from lead.created until lead.qualified
    # carried it (lead_created_at): speed to lead's fallback for leads scored before that.
    created_at: datetime | None = None


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


async def try_lock_leads(uow: UnitOfWork, lead_ids: Sequence[UUID]) -> set[UUID]:
    """Hold those of these leads no other transaction holds (one statement, in lead-id order,
    never waiting); returns them."""
    if not lead_ids:
        return set()
    rows = await (await uow.driver()).fetch(_TRY_LOCK_LEADS, list(lead_ids))
    return {row["id"] for row in rows}


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


async def store_handoffs(uow: UnitOfWork, copies: Sequence[Mapping[str, Any]],
                         assignments: Sequence[AssignmentRow],
                         timers: Sequence[tuple[UUID, str, datetime]],
                         cursors: Mapping[str, RoundRobinCursor],
                         messages: Sequence[Message]) -> set[UUID]:
    """Store lead copies, open assignments, their SLA timers (assignment id, kind, due at), the
    pools' credits and webhook messages (one statement). Returns the ids of the assignments
    inserted; unless all were (a lead already had an open assignment), only the lead copies and
    those assignments are written."""
    if not assignments:
        return set()
    lead_columns = [[copy[name] for copy in copies] for name in _LEAD_COLUMNS]
    lead_columns[-1] = [orjson.dumps(context).decode() for context in lead_columns[-1]]
    assignment_columns = [[getattr(row, name) for row in assignments]
                          for name in _ASSIGNMENT_COLUMNS]
    timer_columns = [list(column) for column in zip(*timers, strict=True)] or [[], [], []]
    pools = sorted(cursors)
    credits = [orjson.dumps(cursors[pool].to_json()).decode() for pool in pools]
    message_columns = [[m.event_id for m in messages], [m.event_type for m in messages],
                       [m.lead_id for m in messages], [m.body for m in messages]]
    rows = await (await uow.driver()).fetch(
        _STORE_HANDOFFS, *lead_columns, *assignment_columns, *timer_columns, pools, credits,
        *message_columns)
    return {row["id"] for row in rows}
