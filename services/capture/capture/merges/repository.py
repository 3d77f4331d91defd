"""Queries of merges: the merge record, and the history a merge moves and gives back."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.tables import activities, leads, merges, visitors
from leadloop.events.models import LeadProfile


@dataclass(frozen=True)
class Merge:
    """A merge and what it takes to undo it."""

    id: UUID
    survivor_id: UUID
    absorbed_id: UUID
    survivor_before: LeadProfile
    moved_activity_ids: list[str]
    moved_visitor_ids: list[str]
    undone_at: datetime | None


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


async def insert_merge(conn: AsyncConnection, merge_id: UUID, survivor_id: UUID,
                       absorbed_id: UUID, survivor_before: LeadProfile,
                       moved_activity_ids: list[str], moved_visitor_ids: list[str]) -> None:
    """Record a merge and what it needs to be undone."""
    await conn.execute(insert(merges).values(
        id=merge_id, survivor_id=survivor_id, absorbed_id=absorbed_id,
        survivor_before=survivor_before.model_dump(mode="json"),
        moved_activity_ids=moved_activity_ids, moved_visitor_ids=moved_visitor_ids))


async def lock_merge(conn: AsyncConnection, merge_id: UUID) -> Merge | None:
    """A merge, locked, or None."""
    row = (await conn.execute(select(merges).where(merges.c.id == merge_id)
                              .with_for_update())).one_or_none()
    return None if row is None else Merge(
        row.id, row.survivor_id, row.absorbed_id, LeadProfile.model_validate(row.survivor_before),
        row.moved_activity_ids, row.moved_visitor_ids, row.undone_at)


async def mark_merge_undone(conn: AsyncConnection, merge_id: UUID) -> None:
    """Record that a merge was undone."""
    await conn.execute(update(merges).where(merges.c.id == merge_id).values(undone_at=func.now()))
