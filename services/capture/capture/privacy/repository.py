"""Capture's queries for GDPR requests: everything held about a person, found and deleted."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Select, String, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.tables import (
    activities,
    consent_confirmations,
    idempotency_keys,
    lead_sales_states,
    leads,
    merges,
    submissions,
    visitors,
)


async def person_lead_ids(conn: AsyncConnection, lead_id: UUID) -> list[UUID]:
    """The lead and every duplicate merged into it (one person), locked; [] if unknown.

    A merged duplicate's id stands for its survivor: merging said they are the same person.
    """
    row = (await conn.execute(select(leads.c.id, leads.c.merged_into)
                              .where(leads.c.id == lead_id))).one_or_none()
    if row is None:
        return []
    survivor = row.merged_into or row.id
    rows = await conn.execute(
        select(leads.c.id).where(or_(leads.c.id == survivor, leads.c.merged_into == survivor))
        .order_by(leads.c.id).with_for_update())
    return [r.id for r in rows]


@dataclass(frozen=True)
class PersonData:
    """Every row capture holds about a person, as plain dicts, by table."""

    leads: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    form_submissions: list[dict[str, Any]]
    merges: list[dict[str, Any]]
    visitors: list[dict[str, Any]]
    consent_confirmations: list[dict[str, Any]]


async def _rows(conn: AsyncConnection, statement: Select[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await conn.execute(statement)]


async def export_person(conn: AsyncConnection, lead_ids: list[UUID]) -> PersonData:
    """Every row capture holds about these leads."""
    return PersonData(
        leads=await _rows(conn, select(leads).where(leads.c.id.in_(lead_ids))
                          .order_by(leads.c.created_at)),
        activities=await _rows(conn, select(activities)
                               .where(activities.c.lead_id.in_(lead_ids))
                               .order_by(activities.c.occurred_at)),
        form_submissions=await _rows(conn, select(submissions)
                                     .where(submissions.c.lead_id.in_(lead_ids))
                                     .order_by(submissions.c.created_at)),
        merges=await _rows(conn, select(merges).where(or_(merges.c.survivor_id.in_(lead_ids),
                                                          merges.c.absorbed_id.in_(lead_ids)))
                           .order_by(merges.c.merged_at)),
        visitors=await _rows(conn, select(visitors).where(visitors.c.lead_id.in_(lead_ids))
                             .order_by(visitors.c.id)),
        consent_confirmations=await _rows(
            conn, select(consent_confirmations)
            .where(consent_confirmations.c.lead_id.in_(lead_ids))
            .order_by(consent_confirmations.c.created_at)))


async def person_emails(conn: AsyncConnection, lead_ids: list[UUID]) -> list[str]:
    """The email addresses of these leads."""
    return list((await conn.scalars(select(leads.c.email).where(leads.c.id.in_(lead_ids))
                                    .order_by(leads.c.created_at))).all())


async def delete_person(conn: AsyncConnection, lead_ids: list[UUID], emails: list[str]) -> None:
    """Delete the leads and everything that names them or their email addresses."""
    visitor_ids = select(visitors.c.id).where(visitors.c.lead_id.in_(lead_ids))
    await conn.execute(delete(activities).where(or_(activities.c.lead_id.in_(lead_ids),
                                                    activities.c.visitor_id.in_(visitor_ids))))
    await conn.execute(delete(visitors).where(visitors.c.lead_id.in_(lead_ids)))
    # Submissions keep the raw form body; spam-flagged ones have no lead but may hold the email.
    payload_text = func.lower(cast(submissions.c.payload, String))
    await conn.execute(delete(submissions).where(or_(
        submissions.c.lead_id.in_(lead_ids),
        *[payload_text.contains(email.lower(), autoescape=True) for email in emails])))
    await conn.execute(delete(merges).where(or_(merges.c.survivor_id.in_(lead_ids),
                                                merges.c.absorbed_id.in_(lead_ids))))
    # Remembered answers only name the lead id, but they belong to the person's requests.
    response_text = cast(idempotency_keys.c.response, String)
    await conn.execute(delete(idempotency_keys).where(or_(
        *[response_text.contains(str(i), autoescape=True) for i in lead_ids])))
    await conn.execute(delete(consent_confirmations).where(
        consent_confirmations.c.lead_id.in_(lead_ids)))
    await conn.execute(delete(lead_sales_states).where(
        lead_sales_states.c.lead_id.in_(lead_ids)))
    await conn.execute(delete(leads).where(leads.c.id.in_(lead_ids)))
