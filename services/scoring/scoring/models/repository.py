"""Queries about model versions, trainings, re-score jobs, and leads read in bulk."""

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.pagination import Keyset
from scoring.rules.domain import Activity, StoredLead
from scoring.scores.repository import ACTIVITY_COLUMNS, activity_from_row, stored_lead_from_row
from scoring.tables import (
    deal_outcomes,
    lead_activities,
    leads,
    model_trainings,
    rescore_jobs,
    scoring_models,
)


async def get_model(conn: AsyncConnection, version: int) -> Row[Any] | None:
    """One model version's row, or None."""
    statement = select(scoring_models).where(scoring_models.c.version == version)
    return (await conn.execute(statement)).one_or_none()


async def create_model(conn: AsyncConnection, name: str, config: dict[str, Any]) -> int:
    """Store a new version (the next number) and return it; versions are never updated."""
    # The advisory lock serializes creators, so the next number cannot be taken twice.
    await conn.execute(select(func.pg_advisory_xact_lock(0x5C0F1)))
    version = int(await conn.scalar(select(func.coalesce(func.max(scoring_models.c.version), 0)))
                  or 0) + 1
    await conn.execute(scoring_models.insert().values(
        version=version, name=name, config=config,
        kind=config.get("kind", "qualification")))
    return version


async def activate_model(conn: AsyncConnection, version: int, at: datetime) -> None:
    """Make a version the active one of its kind (the partial unique index allows one)."""
    kind = select(scoring_models.c.kind).where(scoring_models.c.version == version) \
        .scalar_subquery()
    await conn.execute(update(scoring_models)
                       .where(scoring_models.c.is_active, scoring_models.c.kind == kind)
                       .values(is_active=False))
    await conn.execute(update(scoring_models).where(scoring_models.c.version == version)
                       .values(is_active=True, activated_at=at))


async def latest_training_id(conn: AsyncConnection, version: int) -> int | None:
    """The id of a version's latest training, or None."""
    training_id: int | None = await conn.scalar(
        select(func.max(model_trainings.c.id)).where(model_trainings.c.model_version == version))
    return training_id


async def training_model(conn: AsyncConnection, training_id: int) -> dict[str, Any]:
    """The learned model (intercept and terms) a training stored."""
    model = await conn.scalar(select(model_trainings.c.model)
                              .where(model_trainings.c.id == training_id))
    if model is None:
        raise LookupError(f"no training {training_id}")
    return dict(model)


async def latest_training(conn: AsyncConnection, version: int) -> Row[Any] | None:
    """A version's latest training row, or None."""
    latest = await latest_training_id(conn, version)
    if latest is None:
        return None
    statement = select(model_trainings).where(model_trainings.c.id == latest)
    return (await conn.execute(statement)).one()


async def insert_training(conn: AsyncConnection, version: int, deals: int,
                          model: dict[str, Any], evaluation: dict[str, Any]) -> int:
    """Store a training's model and evaluation; returns its id."""
    training_id: int = await conn.scalar(
        model_trainings.insert().values(model_version=version, deals=deals, model=model,
                                        evaluation=evaluation).returning(model_trainings.c.id))
    return training_id


async def outcome_count(conn: AsyncConnection, since: datetime | None = None) -> int:
    """How many outcomes (closed deals, closed leads) are stored (recorded after `since`)."""
    statement = select(func.count()).select_from(deal_outcomes)
    if since is not None:
        statement = statement.where(deal_outcomes.c.recorded_at > since)
    return int(await conn.scalar(statement) or 0)


async def outcomes_with_profiles(conn: AsyncConnection, closed_from: datetime | None = None,
                                 closed_to: datetime | None = None) -> list[Row[Any]]:
    """Every outcome (closed in [closed_from, closed_to), when given) with its lead's stored
    profile, consent and source (the outcome's own snapshot is preferred)."""
    statement = (
        select(deal_outcomes.c.lead_id, deal_outcomes.c.outcome, deal_outcomes.c.closed_at,
               deal_outcomes.c.features, leads.c.profile, leads.c.consent, leads.c.source)
        .join(leads, leads.c.lead_id == deal_outcomes.c.lead_id, isouter=True)
        .order_by(deal_outcomes.c.deal_id)
    )
    if closed_from is not None:
        statement = statement.where(deal_outcomes.c.closed_at >= closed_from)
    if closed_to is not None:
        statement = statement.where(deal_outcomes.c.closed_at < closed_to)
    return list(await conn.execute(statement))


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
        by_lead[row.lead_id].append(activity_from_row(row))
    return by_lead


def _scorable(engaged_only: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [leads.c.profile.is_not(None),
                                             leads.c.erased_at.is_(None),
                                             leads.c.merged_into.is_(None)]
    if engaged_only:
        conditions.append(leads.c.engagement_score != 0)
    return conditions


async def count_scorable(conn: AsyncConnection, engaged_only: bool = False) -> int:
    """How many leads a re-score job will visit."""
    statement = select(func.count()).select_from(leads).where(*_scorable(engaged_only))
    return int(await conn.scalar(statement) or 0)


async def lock_lead_batch(conn: AsyncConnection, after: UUID | None, limit: int,
                          engaged_only: bool = False) -> list[StoredLead]:
    """The next `limit` scorable leads by id after a cursor, locked until the batch commits."""
    statement = select(leads).where(*_scorable(engaged_only))
    if after is not None:
        statement = statement.where(leads.c.lead_id > after)
    statement = statement.order_by(leads.c.lead_id).limit(limit).with_for_update()
    return [stored_lead_from_row(row) for row in await conn.execute(statement)]


async def update_leads(conn: AsyncConnection, changes: list[tuple[UUID, dict[str, Any]]]) -> None:
    """Set columns of many leads: one executemany per distinct set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for lead_id, values in changes:
        groups[tuple(sorted(values))].append({"_lead_id": lead_id, **values})
    for columns, rows in groups.items():
        if columns:
            statement = update(leads).where(leads.c.lead_id == bindparam("_lead_id")).values(
                {name: bindparam(name) for name in columns})
            await conn.execute(statement, rows)


async def start_job(conn: AsyncConnection, version: int, reason: str, total: int) -> int:
    """Start a re-score job; a job still running is superseded (the new one covers it)."""
    await conn.execute(update(rescore_jobs).where(rescore_jobs.c.status == "running")
                       .values(status="superseded", finished_at=func.now()))
    job_id: int = await conn.scalar(rescore_jobs.insert().values(
        model_version=version, reason=reason, total=total).returning(rescore_jobs.c.id))
    return job_id


async def running_job(conn: AsyncConnection) -> Row[Any] | None:
    """The re-score job in progress, locked so only one process works on it at a time."""
    statement = (select(rescore_jobs).where(rescore_jobs.c.status == "running")
                 .order_by(rescore_jobs.c.id).limit(1).with_for_update(skip_locked=True))
    return (await conn.execute(statement)).one_or_none()


async def advance_job(conn: AsyncConnection, job_id: int, cursor: UUID | None, visited: int,
                      finished: bool) -> None:
    """Move a job's cursor past a committed batch."""
    values: dict[str, Any] = {"cursor": cursor, "done": rescore_jobs.c.done + visited}
    if finished:
        values |= {"status": "done", "finished_at": func.now()}
    await conn.execute(update(rescore_jobs).where(rescore_jobs.c.id == job_id).values(**values))


async def jobs_of(conn: AsyncConnection, version: int, limit: int = 10) -> list[Row[Any]]:
    """A version's latest re-score jobs, newest first."""
    statement = (select(rescore_jobs).where(rescore_jobs.c.model_version == version)
                 .order_by(rescore_jobs.c.id.desc()).limit(limit))
    return list(await conn.execute(statement))


JOB_ORDER = Keyset((rescore_jobs.c.id,), (int,), descending=True)
"""A version's re-score jobs are listed newest first."""


async def job_page(conn: AsyncConnection, version: int, cursor: str | None,
                   limit: int) -> list[Row[Any]]:
    """A page of a version's re-score jobs, newest first (limit + 1 rows: JOB_ORDER.page
    cuts it)."""
    return list(await conn.execute(JOB_ORDER.select(
        select(rescore_jobs).where(rescore_jobs.c.model_version == version), cursor, limit)))


async def last_job_start(conn: AsyncConnection, reason: str) -> datetime | None:
    """When the latest job for a reason started."""
    started: datetime | None = await conn.scalar(
        select(func.max(rescore_jobs.c.started_at)).where(rescore_jobs.c.reason == reason))
    return started


async def replay_leads(conn: AsyncConnection) -> list[Mapping[str, Any]]:
    """Every scorable lead with its activities (as arrays, oldest first, times as Unix seconds)
    and its closed deals' best outcome ("won" over "lost"); one row per lead.

    Read through the driver directly: for 100,000 leads, SQLAlchemy's per-row processing costs
    more than the query. The statement is still built (and checked) as Core.
    """
    acts = (
        select(lead_activities.c.lead_id,
               func.array_agg(aggregate_order_by(lead_activities.c.kind,
                                                 lead_activities.c.occurred_at)).label("kinds"),
               func.array_agg(aggregate_order_by(lead_activities.c.url,
                                                 lead_activities.c.occurred_at)).label("urls"),
               func.array_agg(aggregate_order_by(
                   func.date_part("epoch", lead_activities.c.occurred_at),
                   lead_activities.c.occurred_at)).label("times"),
               func.array_agg(aggregate_order_by(lead_activities.c.seconds,
                                                 lead_activities.c.occurred_at)).label("seconds"),
               func.array_agg(aggregate_order_by(lead_activities.c.numbers,
                                                 lead_activities.c.occurred_at)).label("numbers"))
        .group_by(lead_activities.c.lead_id).subquery()
    )
    # max(): "won" > "not_converted" > "lost", and only won tells them apart
    outcome = (select(deal_outcomes.c.lead_id, func.max(deal_outcomes.c.outcome).label("outcome"))
               .group_by(deal_outcomes.c.lead_id).subquery())
    statement = (
        select(leads.c.lead_id, leads.c.profile, func.date_part("epoch", func.least(
                   func.coalesce(leads.c.profile_at, leads.c.first_seen_at),
                   leads.c.first_seen_at)).label("created_at"),
               leads.c.consent_withdrawn, leads.c.consent, leads.c.source, outcome.c.outcome,
               acts.c.kinds, acts.c.urls, acts.c.times, acts.c.seconds, acts.c.numbers)
        .join(outcome, outcome.c.lead_id == leads.c.lead_id, isouter=True)
        .join(acts, acts.c.lead_id == leads.c.lead_id, isouter=True)
        .where(*_scorable(False))
    )
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = await conn.get_raw_connection()
    rows: list[Mapping[str, Any]] = await raw.driver_connection.fetch(sql)  # type: ignore[union-attr]
    return rows
