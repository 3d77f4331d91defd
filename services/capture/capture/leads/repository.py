"""Every query capture makes."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.tables import activities, leads, merges, visitors


async def update_lead(conn: AsyncConnection, lead_id: UUID, profile: dict[str, Any],
                      consent: dict[str, Any], updated_at: datetime) -> None:
    """Replace a lead's profile and consent."""
    await conn.execute(
        update(leads).where(leads.c.id == lead_id)
        .values(profile=profile, consent=consent, updated_at=updated_at)
    )


async def get_lead(conn: AsyncConnection, lead_id: UUID) -> Any | None:
    """A lead by id, or None."""
    return (await conn.execute(select(leads).where(leads.c.id == lead_id))).one_or_none()


async def get_lead_by_email(conn: AsyncConnection, email: str) -> Any | None:
    """A lead by normalized email, or None."""
    return (await conn.execute(select(leads).where(leads.c.email == email))).one_or_none()


async def lock_leads_by_email(conn: AsyncConnection, emails: list[str]) -> list[Any]:
    """The stored leads among `emails`, locked (in email order, so batches never deadlock)."""
    return list((await conn.execute(
        select(leads.c.id, leads.c.email, leads.c.profile, leads.c.consent, leads.c.merged_into)
        .where(leads.c.email.in_(emails)).order_by(leads.c.email).with_for_update())).all())


async def insert_leads(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Insert new leads in one statement, skipping emails taken meanwhile; how many went in."""
    if not rows:
        return 0
    # executemany with RETURNING: one cached statement, sent as multi-row batches.
    result = await conn.execute(
        insert(leads).on_conflict_do_nothing(index_elements=[leads.c.email])
        .returning(leads.c.id), rows)
    return len(result.all())


async def update_leads(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Replace several leads' profile and consent (one prepared statement, many rows)."""
    if not rows:
        return
    await conn.execute(
        update(leads).where(leads.c.id == bindparam("b_id"))
        .values(profile=bindparam("b_profile"), consent=bindparam("b_consent"),
                updated_at=bindparam("b_updated_at")),
        rows)


async def lock_leads_by_id(conn: AsyncConnection, lead_ids: list[UUID]) -> list[Any]:
    """Leads by id, locked in id order (so two merges never deadlock)."""
    return list((await conn.execute(
        select(leads).where(leads.c.id.in_(lead_ids)).order_by(leads.c.id)
        .with_for_update())).all())


async def set_merged_into(conn: AsyncConnection, lead_id: UUID, survivor: UUID | None) -> None:
    """Mark a lead as merged into another (or not any more)."""
    await conn.execute(update(leads).where(leads.c.id == lead_id)
                       .values(merged_into=survivor, updated_at=func.now()))


async def move_history(conn: AsyncConnection, from_lead: UUID, to_lead: UUID
                       ) -> tuple[list[str], list[str]]:
    """Re-point a lead's activities and visitors to another; returns what moved."""
    moved = await conn.execute(update(activities).where(activities.c.lead_id == from_lead)
                               .values(lead_id=to_lead).returning(activities.c.id))
    visitors_moved = await conn.execute(update(visitors).where(visitors.c.lead_id == from_lead)
                                        .values(lead_id=to_lead).returning(visitors.c.id))
    return [str(r[0]) for r in moved.all()], [str(r[0]) for r in visitors_moved.all()]


async def move_back(conn: AsyncConnection, to_lead: UUID, activity_ids: list[str],
                    visitor_ids: list[str]) -> None:
    """Return the activities and visitors a merge moved."""
    if activity_ids:
        await conn.execute(update(activities).where(activities.c.id.in_(
            [UUID(i) for i in activity_ids])).values(lead_id=to_lead))
    if visitor_ids:
        await conn.execute(update(visitors).where(visitors.c.id.in_(visitor_ids))
                           .values(lead_id=to_lead))


async def insert_merge(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Record a merge and what it needs to be undone."""
    await conn.execute(insert(merges).values(**values))


async def lock_merge(conn: AsyncConnection, merge_id: UUID) -> Any | None:
    """A merge, locked, or None."""
    return (await conn.execute(select(merges).where(merges.c.id == merge_id)
                               .with_for_update())).one_or_none()


async def mark_merge_undone(conn: AsyncConnection, merge_id: UUID) -> None:
    """Record that a merge was undone."""
    await conn.execute(update(merges).where(merges.c.id == merge_id).values(undone_at=func.now()))
