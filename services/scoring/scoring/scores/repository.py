"""Every query scoring makes."""

from collections.abc import Hashable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, delete, func, null, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.events.models import Consent, LeadProfile, LeadSource
from leadloop.pagination import Keyset
from scoring.rules.domain import Activity, Qualification, StoredLead
from scoring.tables import (
    deal_outcomes,
    lead_activities,
    leads,
    model_trainings,
    score_history,
    scoring_models,
)


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


def stored_lead_from_row(row: Row[Any]) -> StoredLead:
    """A lead from a row of the leads table read through SQLAlchemy."""
    return stored_lead_from(row._mapping)


async def lock_lead(conn: AsyncConnection, lead_id: UUID) -> StoredLead:
    """The lead's row, created empty when unknown, locked until the transaction ends.

    One statement: the no-op update on conflict takes the row lock and returns the row, so
    events about one lead from different topics (and consumers) apply one after the other.
    """
    new_row = insert(leads).values(lead_id=lead_id)
    statement = new_row.on_conflict_do_update(
        index_elements=[leads.c.lead_id], set_={"lead_id": new_row.excluded.lead_id},
    ).returning(*leads.c)
    return stored_lead_from_row((await conn.execute(statement)).one())


async def update_lead(conn: AsyncConnection, lead_id: UUID, values: dict[str, Any]) -> None:
    """Set columns of a lead's row."""
    if values:
        await conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(**values))


def activity_from_row(row: Any) -> Activity:
    """An activity from a row of ACTIVITY_COLUMNS."""
    return Activity(activity_id=row.activity_id, kind=row.kind, occurred_at=row.occurred_at,
                    url=row.url, event_id=row.event_id, seconds=row.seconds,
                    numbers=row.numbers)


ACTIVITY_COLUMNS = (lead_activities.c.activity_id, lead_activities.c.kind,
                     lead_activities.c.occurred_at, lead_activities.c.url,
                     lead_activities.c.event_id, lead_activities.c.seconds,
                     lead_activities.c.numbers)


async def activities_since(conn: AsyncConnection, lead_id: UUID, since: datetime) -> list[Activity]:
    """A lead's activities that happened after `since`."""
    rows = await conn.execute(
        select(*ACTIVITY_COLUMNS)
        .where(lead_activities.c.lead_id == lead_id, lead_activities.c.occurred_at > since)
    )
    return [activity_from_row(row) for row in rows]


async def activity_counts(conn: AsyncConnection, lead_id: UUID) -> dict[str, int]:
    """How many activities of each kind a lead has."""
    rows = await conn.execute(
        select(lead_activities.c.kind, func.count())
        .where(lead_activities.c.lead_id == lead_id)
        .group_by(lead_activities.c.kind)
    )
    return {kind: count for kind, count in rows}


async def score_history_of(conn: AsyncConnection, lead_id: UUID, limit: int) -> list[Row[Any]]:
    """A lead's `limit` latest score changes, oldest first."""
    latest = (
        select(score_history).where(score_history.c.lead_id == lead_id)
        .order_by(score_history.c.id.desc()).limit(limit).subquery()
    )
    return list(await conn.execute(select(latest).order_by(latest.c.id)))


async def get_leads(conn: AsyncConnection, lead_ids: list[UUID]) -> dict[UUID, Row[Any]]:
    """Many leads' rows in one query, by id (unknown ids are left out)."""
    rows = await conn.execute(select(leads).where(leads.c.lead_id.in_(lead_ids)))
    return {row.lead_id: row for row in rows}


async def get_lead(conn: AsyncConnection, lead_id: UUID) -> Row[Any] | None:
    """A lead's row, or None."""
    return (await conn.execute(select(leads).where(leads.c.lead_id == lead_id))).one_or_none()


async def upsert_deal_outcome(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Store a closed deal as training data; a deal closed again keeps its latest outcome."""
    statement = insert(deal_outcomes).values(**values)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=[deal_outcomes.c.deal_id],
        set_={name: statement.excluded[name] for name in values if name != "deal_id"},
    ))


async def erase_lead(conn: AsyncConnection, lead_id: UUID, erased_at: datetime) -> None:
    """Delete everything about a lead, keeping only its id and erased_at as a tombstone.

    One statement: the deletes run as data-modifying CTEs of the tombstone update.
    """
    kept = {"lead_id", "erased_at", "first_seen_at"}
    cleared: dict[str, Any] = {c.name: null() for c in leads.c if c.name not in kept}
    cleared |= {"is_mql": False, "contributions": [], "consent_withdrawn": [],
                "qualification": Qualification.open.value}
    statement = update(leads).where(leads.c.lead_id == lead_id).values(
        **cleared, erased_at=erased_at)
    for table in (lead_activities, score_history, deal_outcomes):
        statement = statement.add_cte(
            delete(table).where(table.c.lead_id == lead_id).cte(f"erased_{table.name}")
        )
    await conn.execute(statement)


async def active_model_version(conn: AsyncConnection,
                               kind: str = "qualification") -> int | None:
    """The version of the active scoring model of a kind (qualification or expansion)."""
    version: int | None = await conn.scalar(
        select(scoring_models.c.version)
        .where(scoring_models.c.is_active, scoring_models.c.kind == kind)
    )
    return version


async def in_force_version(conn: AsyncConnection) -> Hashable:
    """What says the models in force changed: each kind's active version, when it was
    activated (a re-activation, or another database), and its latest training."""
    latest_training = (select(func.max(model_trainings.c.id))
                       .where(model_trainings.c.model_version == scoring_models.c.version)
                       .scalar_subquery())
    rows = (await conn.execute(
        select(scoring_models.c.kind, scoring_models.c.version, scoring_models.c.activated_at,
               latest_training)
        .where(scoring_models.c.is_active).order_by(scoring_models.c.kind))).all()
    return tuple(tuple(row) for row in rows) or None


async def model_config(conn: AsyncConnection, version: int) -> dict[str, Any]:
    """The stored rules of a model version."""
    config = await conn.scalar(
        select(scoring_models.c.config).where(scoring_models.c.version == version)
    )
    if config is None:
        raise LookupError(f"no scoring model version {version}")
    return dict(config)


async def list_models(conn: AsyncConnection) -> list[Row[Any]]:
    """Every model version, oldest first."""
    return list(await conn.execute(select(scoring_models).order_by(scoring_models.c.version)))


MODEL_ORDER = Keyset((scoring_models.c.version,), (int,))
"""Model versions are listed oldest first."""


async def model_page(conn: AsyncConnection, cursor: str | None, limit: int) -> list[Row[Any]]:
    """A page of model versions, oldest first (limit + 1 rows: MODEL_ORDER.page cuts it)."""
    return list(await conn.execute(MODEL_ORDER.select(select(scoring_models), cursor, limit)))


async def active_version(conn: AsyncConnection, kind: str = "qualification") -> int | None:
    """The version of a kind that scores leads now (None before the first activation)."""
    return await active_model_version(conn, kind)


async def move_activities(conn: AsyncConnection, from_lead: UUID, to_lead: UUID) -> None:
    """Move a merged duplicate's activities to the surviving lead (merge)."""
    await conn.execute(update(lead_activities).where(lead_activities.c.lead_id == from_lead)
                       .values(lead_id=to_lead, origin_lead_id=func.coalesce(
                           lead_activities.c.origin_lead_id, lead_activities.c.lead_id)))


async def restore_activities(conn: AsyncConnection, from_lead: UUID, to_lead: UUID) -> None:
    """Give a restored lead back the activities that were first its own (unmerge)."""
    await conn.execute(update(lead_activities).where(
        lead_activities.c.lead_id == from_lead, lead_activities.c.origin_lead_id == to_lead,
    ).values(lead_id=to_lead, origin_lead_id=None))
