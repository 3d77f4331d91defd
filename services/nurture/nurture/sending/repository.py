"""The scheduler's queries: claim due enrollments, what guards and branches read, the results."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.driver import driver_in_transaction
from nurture.leads.domain import EnrollmentStatus, LeadState, address_key
from nurture.sending.engine import Engagement
from nurture.sequences.domain import Sequence
from nurture.tables import (
    enrollments,
    lead_states,
    messages,
    sequences,
    suppressions,
)

_STATE_FIELDS = [c for c in lead_states.c if c.name != "updated_at"]


@dataclass(frozen=True)
class DueEnrollment:
    """A claimed enrollment and its lead, both locked until the transaction ends."""

    id: UUID
    lead_id: UUID
    sequence_key: str
    sequence_version: int
    current_step: int
    step_started_at: datetime
    last_sent_at: datetime | None
    enrolled_at: datetime
    lead: LeadState


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> list[DueEnrollment]:
    """Due enrollments with their lead rows, locked; rows another worker or an event handler
    holds are skipped and come back next round."""
    e = enrollments.c
    rows = await conn.execute(
        select(e.id.label("enrollment_id"), e.sequence_key, e.sequence_version, e.current_step,
               e.step_started_at, e.last_sent_at, e.enrolled_at, *_STATE_FIELDS)
        .join_from(enrollments, lead_states, lead_states.c.lead_id == e.lead_id)
        .where(e.status == EnrollmentStatus.active.value, e.next_step_due_at <= now)
        .order_by(e.next_step_due_at)
        .limit(limit)
        .with_for_update(of=[enrollments, lead_states], skip_locked=True)
    )
    claimed = []
    for row in rows:
        values = row._asdict()
        state = LeadState.model_validate({c.name: values[c.name] for c in _STATE_FIELDS})
        claimed.append(DueEnrollment(
            id=values["enrollment_id"], lead_id=state.lead_id,
            sequence_key=values["sequence_key"], sequence_version=values["sequence_version"],
            current_step=values["current_step"],
            step_started_at=values["step_started_at"] or values["enrolled_at"],
            last_sent_at=values["last_sent_at"], enrolled_at=values["enrolled_at"], lead=state))
    return claimed


async def sequence_versions(conn: AsyncConnection,
                            keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Sequence]:
    """The given sequence versions, in one query."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    s = sequences.c
    rows = await conn.execute(
        select(s.key, s.version, s.entry_rule, s.steps, s.active, s.settings)
        .where(func.row(s.key, s.version).in_(wanted))
    )
    found = {}
    for row in rows:
        values = row._asdict()
        found[(row.key, row.version)] = Sequence.model_validate(
            {**values.pop("settings"), **values})
    return found


async def recent_sends(conn: AsyncConnection, lead_ids: Seq[UUID],
                       since: datetime) -> dict[UUID, list[datetime]]:
    """When each lead got messages since `since` (frequency caps), in one query."""
    rows = await conn.execute(
        select(messages.c.lead_id, messages.c.sent_at)
        .where(messages.c.lead_id.in_(lead_ids), messages.c.sent_at > since,
               messages.c.status == "sent")
    )
    found: dict[UUID, list[datetime]] = defaultdict(list)
    for lead_id, sent_at in rows:
        found[lead_id].append(sent_at)
    return found


_ENGAGEMENTS_SINCE = text(
    "SELECT e.lead_id, e.kind, e.occurred_at, e.url FROM engagements AS e "
    "JOIN unnest(CAST(:lead_ids AS uuid[]), CAST(:since AS timestamptz[])) AS t(lead_id, since) "
    "ON e.lead_id = t.lead_id AND e.occurred_at >= t.since")


async def engagements_since(conn: AsyncConnection, since: Mapping[UUID, datetime]
                            ) -> dict[UUID, list[Engagement]]:
    """What each lead did since its own time in `since` (branches), in one query."""
    if not since:
        return {}
    rows = await conn.execute(_ENGAGEMENTS_SINCE, {"lead_ids": list(since),
                                                   "since": list(since.values())})
    found: dict[UUID, list[Engagement]] = defaultdict(list)
    for lead_id, kind, at, url in rows:
        found[lead_id].append(Engagement(kind=kind, at=at, url=url))
    return found


_MOVE = (update(enrollments)
         .where(enrollments.c.id == bindparam("b_id"))
         .values(status=bindparam("b_status"), current_step=bindparam("b_step"),
                 step_started_at=bindparam("b_started"), last_sent_at=bindparam("b_last_sent"),
                 next_step_due_at=bindparam("b_due"), exit_reason=bindparam("b_exit"),
                 exited_at=bindparam("b_exited"), completed_at=bindparam("b_completed"),
                 updated_at=func.now()))


async def save_positions(conn: AsyncConnection, moves: Seq[dict[str, Any]]) -> None:
    """Store where each claimed enrollment now stands (keys b_id, b_status, ... as in _MOVE)."""
    if moves:
        await conn.execute(_MOVE, list(moves))


_MESSAGE_COLUMNS = ("id", "enrollment_id", "lead_id", "sequence_key", "sequence_version", "step",
                    "channel", "template", "status", "error", "sent_at", "links")
# One text for any number of rows, so asyncpg prepares it once per connection: a multi-row
# VALUES insert compiles anew for every batch size (8% of nurture's CPU in P3's profile).
_INSERT_MESSAGES = f"""
INSERT INTO messages ({", ".join(_MESSAGE_COLUMNS)})
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::int[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],
                     $12::jsonb[])
ON CONFLICT (enrollment_id, step) DO NOTHING
"""


async def insert_messages(conn: AsyncConnection, rows: Seq[dict[str, Any]]) -> None:
    """Record sent or failed messages; the (enrollment, step) key keeps each step once."""
    if not rows:
        return
    driver = await driver_in_transaction(conn)
    await driver.execute(_INSERT_MESSAGES, *(
        [orjson.dumps(row["links"]).decode() for row in rows] if column == "links"
        else [row[column] for row in rows] for column in _MESSAGE_COLUMNS))


async def mark_bounced(conn: AsyncConnection, lead_ids: Seq[UUID], at: datetime) -> None:
    """Suppress leads whose address the mail server refused for good, and stop all their
    active enrollments (run after save_positions, so it wins over this batch's moves)."""
    if lead_ids:
        await conn.execute(update(lead_states).where(lead_states.c.lead_id.in_(lead_ids))
                           .values(bounced_at=func.coalesce(lead_states.c.bounced_at, at),
                                   updated_at=func.now()))
        await conn.execute(update(enrollments)
                           .where(enrollments.c.lead_id.in_(lead_ids),
                                  enrollments.c.status == EnrollmentStatus.active.value)
                           .values(status=EnrollmentStatus.exited.value, exit_reason="bounced",
                                   exited_at=at, next_step_due_at=None, updated_at=func.now()))


async def suppressed(conn: AsyncConnection, emails: Iterable[str | None]) -> dict[str, str]:
    """Which of these addresses are on the suppression list: address -> reason (unsubscribed,
    bounced), whichever lead record put them there."""
    keys = {address_key(e): e for e in emails if e}
    if not keys:
        return {}
    rows = await conn.execute(select(suppressions.c.address_key, suppressions.c.reason)
                              .where(suppressions.c.address_key.in_(list(keys))))
    return {keys[key]: reason for key, reason in rows}


async def suppress(conn: AsyncConnection, emails: Iterable[str | None], reason: str) -> None:
    """Put addresses on the suppression list (the first reason recorded stays)."""
    keys = sorted({address_key(e) for e in emails if e})
    if keys:
        await conn.execute(insert(suppressions)
                           .values([{"address_key": k, "reason": reason} for k in keys])
                           .on_conflict_do_nothing())


def cap_window_start(now: datetime) -> datetime:
    """The oldest send frequency caps look at (the weekly cap)."""
    return now - timedelta(days=7)
