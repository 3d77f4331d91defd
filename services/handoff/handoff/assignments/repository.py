"""Every query handoff makes."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.assignments.domain import HELD_BY_REP, OPEN_STATUSES, AssignmentStatus
from handoff.routing.repository import AssignmentRow
from handoff.tables import (
    assignments,
    erased_leads,
    lead_arrivals,
    lead_stages,
    leads,
    reps,
    webhook_deliveries,
)
from leadloop.events.models import LeadQualified

_HELD = [status.value for status in HELD_BY_REP]
OPEN = [status.value for status in OPEN_STATUSES]


# Not slotted: a base of both rows below, and of AssignmentView beside AssignmentRecord.
@dataclass(frozen=True)
class LeadSummaryRow:
    """The columns of a lead a rep's queue shows."""

    first_name: str | None
    last_name: str | None
    company: str | None
    score: int
    grade: str
    qualified_at: datetime


@dataclass(frozen=True, slots=True)
class LeadRow(LeadSummaryRow):
    """Handoff's copy of a qualified lead."""

    lead_id: UUID
    email: str
    context: dict[str, Any]  # the lead.qualified data
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AssignmentRecord(AssignmentRow):
    """A stored assignment: what routing wrote at hand-off, and what happened since (sales
    actions, SLA reminders and breaches)."""

    accepted_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: str | None
    rejection_note: str | None
    contacted_at: datetime | None
    contact_channel: str | None
    updated_at: datetime
    reminded_at: datetime | None
    breached_at: datetime | None
    converted_at: datetime | None
    opportunity_ref: str | None
    accepted_by: str | None
    rejected_by: str | None
    contacted_by: str | None
    assigned_by: str | None


@dataclass(frozen=True, slots=True)
class AssignmentView(AssignmentRecord, LeadSummaryRow):
    """An assignment as sales sees it: with the lead's summary and the rep's name."""

    lead_email: str
    rep_name: str | None
    rep_email: str | None


# --- routing -------------------------------------------------------------------------------


async def lock_lead(conn: AsyncConnection, lead_id: UUID) -> None:
    """Hold the lead until the transaction ends.

    lead.qualified (scoring's topic) and lead.erased (capture's) are not ordered and may be
    handled by different replicas at once; this lock makes one wait for the other, so an erasure
    can never miss an assignment being made at the same moment.
    """
    await conn.execute(select(func.pg_advisory_xact_lock(
        func.hashtextextended(str(lead_id), 0))))


async def breached_reps(conn: AsyncConnection, lead_id: UUID) -> list[UUID]:
    """The reps who let this lead's accept deadline lapse, oldest first (a lead that left the
    fallback queue is `reassigned` too, but nobody breached anything there)."""
    return list(await conn.scalars(
        select(assignments.c.rep_id)
        .where(assignments.c.lead_id == lead_id,
               assignments.c.status == AssignmentStatus.reassigned.value,
               assignments.c.breached_at.is_not(None), assignments.c.rep_id.is_not(None))
        .order_by(assignments.c.handed_off_at)
    ))


async def queued_assignments(conn: AsyncConnection, limit: int) -> list[tuple[UUID, UUID]]:
    """(assignment id, lead id) of the oldest leads waiting in the fallback queue."""
    rows = await conn.execute(
        select(assignments.c.id, assignments.c.lead_id)
        .where(assignments.c.status == AssignmentStatus.queued.value)
        .order_by(assignments.c.handed_off_at, assignments.c.id).limit(limit))
    return [(row.id, row.lead_id) for row in rows]


async def get_lead(conn: AsyncConnection, lead_id: UUID) -> LeadRow | None:
    """Handoff's copy of a qualified lead."""
    row = (await conn.execute(select(leads).where(leads.c.lead_id == lead_id))).one_or_none()
    return None if row is None else LeadRow(**row._mapping)


async def qualified_lead(conn: AsyncConnection, lead_id: UUID) -> LeadQualified | None:
    """The lead as its lead.qualified described it (what routing and the handed-off payload
    read), from handoff's copy; None if handoff has none."""
    row = await get_lead(conn, lead_id)
    if row is None:
        return None
    return LeadQualified.model_validate({**row.context, "lead_id": lead_id})


_SET_CONSENT = text("""
UPDATE leads SET context = jsonb_set(context, ARRAY['consent', CAST(:purpose AS text)],
                                     to_jsonb(CAST(:granted AS boolean))),
                 updated_at = now()
WHERE lead_id = :lead_id AND context ? 'consent'""")


async def set_consent(conn: AsyncConnection, lead_id: UUID, purpose: str, granted: bool) -> None:
    """Change one purpose of the consent in handoff's copy of a lead (what a reassignment's
    lead.handed_off carries); nothing when handoff holds no copy."""
    await conn.execute(_SET_CONSENT, {"lead_id": lead_id, "purpose": purpose,
                                      "granted": granted})


# --- assignments ---------------------------------------------------------------------------


def _assignment_view() -> Select[Any]:
    """An assignment with the lead's summary and the rep's name, as sales sees it."""
    return (
        select(
            *assignments.c,
            leads.c.email.label("lead_email"), leads.c.first_name, leads.c.last_name,
            leads.c.company, leads.c.score, leads.c.grade, leads.c.qualified_at,
            reps.c.name.label("rep_name"), reps.c.email.label("rep_email"),
        )
        .join(leads, leads.c.lead_id == assignments.c.lead_id)
        .outerjoin(reps, reps.c.id == assignments.c.rep_id)
    )


async def lock_assignment(conn: AsyncConnection, assignment_id: UUID
                          ) -> AssignmentRecord | None:
    """An assignment, row-locked until the transaction ends, or None."""
    row = (await conn.execute(
        select(assignments).where(assignments.c.id == assignment_id).with_for_update()
    )).one_or_none()
    return None if row is None else AssignmentRecord(**row._mapping)


async def update_assignment(conn: AsyncConnection, assignment_id: UUID,
                            changes: dict[str, Any]) -> None:
    """Apply `changes` to an assignment."""
    await conn.execute(
        update(assignments).where(assignments.c.id == assignment_id)
        .values(**changes, updated_at=func.now())
    )


async def get_assignment(conn: AsyncConnection, assignment_id: UUID) -> AssignmentView | None:
    """One assignment as sales sees it, or None."""
    row = (await conn.execute(
        _assignment_view().where(assignments.c.id == assignment_id)
    )).one_or_none()
    return None if row is None else AssignmentView(**row._mapping)


# Queues are worked in SLA order: the deadline soonest first; leads without one (the fallback
# queue) after, oldest first. The same expression orders and pages (keyset on it).
_NO_DEADLINE = literal("infinity").cast(assignments.c.sla_deadline.type)
QUEUE_ORDER = (func.coalesce(assignments.c.sla_deadline, _NO_DEADLINE),
               assignments.c.handed_off_at, assignments.c.id)


def queue_key(row: AssignmentView) -> list[str]:
    """The cursor key of an assignment row in queue order."""
    deadline = row.sla_deadline.isoformat() if row.sla_deadline is not None else "infinity"
    return [deadline, row.handed_off_at.isoformat(), str(row.id)]


def held_by(rep_id: UUID) -> ColumnElement[bool]:
    """Open assignments the rep holds (waiting for acceptance or accepted)."""
    return and_(assignments.c.rep_id == rep_id, assignments.c.status.in_(_HELD))


def held_by_any_rep() -> ColumnElement[bool]:
    """Open assignments held by some rep (waiting for acceptance or accepted)."""
    return assignments.c.status.in_(_HELD)


def queued_in(teams: list[str] | None) -> ColumnElement[bool]:
    """Assignments waiting in the fallback queue (of these teams; None: of every team)."""
    waiting = assignments.c.status == AssignmentStatus.queued.value
    return waiting if teams is None else and_(waiting, assignments.c.team.in_(teams))


def visible_to(rep_id: UUID, teams: list[str], reports: list[UUID]) -> ColumnElement[bool]:
    """Assignments a rep may see: its own, and (as a manager) its teams' and reports'."""
    return or_(assignments.c.rep_id == rep_id, assignments.c.team.in_(teams),
               assignments.c.rep_id.in_(reports))


async def assignment_page(conn: AsyncConnection, where: list[ColumnElement[bool]],
                          after: list[Any] | None, limit: int) -> list[AssignmentView]:
    """Assignments matching `where` in queue order, after the cursor key `after`; limit + 1
    rows so the caller knows whether there is a next page."""
    statement = _assignment_view().where(*where).order_by(*QUEUE_ORDER).limit(limit + 1)
    if after is not None:
        deadline, handed_off_at, assignment_id = after
        statement = statement.where(tuple_(*QUEUE_ORDER) > tuple_(
            literal(deadline).cast(assignments.c.sla_deadline.type),
            literal(handed_off_at).cast(assignments.c.handed_off_at.type),
            literal(assignment_id).cast(assignments.c.id.type)))
    return [AssignmentView(**row._mapping) for row in await conn.execute(statement)]


async def current_assignment_of(conn: AsyncConnection, lead_id: UUID
                                ) -> AssignmentView | None:
    """The lead's open assignment, else its latest one, else None."""
    is_open = assignments.c.status.in_(OPEN)
    row = (await conn.execute(
        _assignment_view().where(assignments.c.lead_id == lead_id)
        .order_by(is_open.desc(), assignments.c.handed_off_at.desc(), assignments.c.id)
        .limit(1)
    )).one_or_none()
    return None if row is None else AssignmentView(**row._mapping)


# --- erasure -------------------------------------------------------------------------------


async def erase_lead(conn: AsyncConnection, lead_id: UUID, erased_at: datetime) -> None:
    """Delete the lead and its assignments (notes included); remember only that it was erased."""
    await conn.execute(
        insert(erased_leads).values(lead_id=lead_id, erased_at=erased_at)
        .on_conflict_do_nothing()
    )
    await conn.execute(delete(assignments).where(assignments.c.lead_id == lead_id))
    await conn.execute(delete(leads).where(leads.c.lead_id == lead_id))
    await conn.execute(delete(lead_arrivals).where(lead_arrivals.c.lead_id == lead_id))
    await conn.execute(delete(lead_stages).where(lead_stages.c.lead_id == lead_id))
    # Queued webhook bodies carry the lead's profile: they go too.
    await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.lead_id == lead_id))
