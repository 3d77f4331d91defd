"""Every query capture makes."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.tables import leads


async def insert_lead_if_new(conn: AsyncConnection, lead_id: UUID, email: str,
                             profile: dict[str, Any], consent: dict[str, Any],
                             source: dict[str, Any]) -> bool:
    """Insert a lead unless its email is known; True when inserted. Race-free across replicas."""
    inserted = await conn.scalar(
        insert(leads)
        .values(id=lead_id, email=email, profile=profile, consent=consent, source=source)
        .on_conflict_do_nothing(index_elements=[leads.c.email])
        .returning(leads.c.id)
    )
    return inserted is not None


async def lock_lead_by_email(conn: AsyncConnection, email: str) -> Any:
    """The stored lead with this email, locked until the transaction ends."""
    return (
        await conn.execute(select(leads).where(leads.c.email == email).with_for_update())
    ).one()


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
