"""Queries about model versions, their trainings, and the jobs re-scoring leads under them."""

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.pagination import Keyset
from scoring.exceptions import UnknownModelVersion
from scoring.leads.repository import scorable, stored_lead_from
from scoring.learning.domain import TrainedModel
from scoring.rules.domain import StoredLead
from scoring.rules.model_config import ScoringModelConfig
from scoring.tables import leads, model_trainings, rescore_jobs, scoring_models


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A stored model version (its rules as stored JSON; `ScoringModelConfig` parses them)."""

    version: int
    name: str
    config: dict[str, Any]
    is_active: bool
    created_at: datetime
    activated_at: datetime | None
    kind: str


STORED_TRAINED_MODEL = TypeAdapter(TrainedModel)
"""Reads a stored learned model (JSON) as the typed shape prediction works on."""


@dataclass(frozen=True, slots=True)
class Training:
    """One training of a version: the learned model it predicts with, and its evaluation."""

    id: int
    model_version: int
    deals: int
    model: TrainedModel
    evaluation: dict[str, Any]
    trained_at: datetime


@dataclass(frozen=True, slots=True)
class RescoreJob:
    """A job re-scoring every lead (or the engaged ones) under a version, with its cursor."""

    id: int
    model_version: int
    reason: str
    status: str
    total: int
    done: int
    cursor: UUID | None
    started_at: datetime
    finished_at: datetime | None


async def get_model(conn: AsyncConnection, version: int) -> StoredModel | None:
    """One model version, or None."""
    statement = select(scoring_models).where(scoring_models.c.version == version)
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else StoredModel(**row._mapping)


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


async def model_config(conn: AsyncConnection, version: int) -> ScoringModelConfig:
    """The rules of a model version, parsed."""
    config = await conn.scalar(
        select(scoring_models.c.config).where(scoring_models.c.version == version)
    )
    if config is None:
        raise UnknownModelVersion(version)
    return ScoringModelConfig.model_validate(config)


async def training_model(conn: AsyncConnection, training_id: int) -> TrainedModel:
    """The learned model (intercept and terms) a training stored."""
    model = await conn.scalar(select(model_trainings.c.model)
                              .where(model_trainings.c.id == training_id))
    if model is None:
        raise LookupError(f"no training {training_id}")
    return STORED_TRAINED_MODEL.validate_python(model)


async def latest_training(conn: AsyncConnection, version: int) -> Training | None:
    """A version's latest training, or None."""
    latest = await latest_training_id(conn, version)
    if latest is None:
        return None
    statement = select(model_trainings).where(model_trainings.c.id == latest)
    row = (await conn.execute(statement)).one()._mapping
    return Training(**{**row, "model": STORED_TRAINED_MODEL.validate_python(row["model"])})


async def insert_training(conn: AsyncConnection, version: int, deals: int,
                          model: TrainedModel, evaluation: dict[str, Any]) -> int:
    """Store a training's model and evaluation; returns its id."""
    training_id: int = await conn.scalar(
        model_trainings.insert().values(model_version=version, deals=deals, model=model,
                                        evaluation=evaluation).returning(model_trainings.c.id))
    return training_id


async def count_scorable(conn: AsyncConnection, engaged_only: bool = False) -> int:
    """How many leads a re-score job will visit."""
    statement = select(func.count()).select_from(leads).where(*scorable(engaged_only))
    return int(await conn.scalar(statement) or 0)


async def lock_lead_batch(conn: AsyncConnection, after: UUID | None, limit: int,
                          engaged_only: bool = False) -> list[StoredLead]:
    """The next `limit` scorable leads by id after a cursor, locked until the batch commits."""
    statement = select(leads).where(*scorable(engaged_only))
    if after is not None:
        statement = statement.where(leads.c.lead_id > after)
    statement = statement.order_by(leads.c.lead_id).limit(limit).with_for_update()
    return [stored_lead_from(row._mapping) for row in await conn.execute(statement)]


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


async def running_job(conn: AsyncConnection) -> RescoreJob | None:
    """The re-score job in progress, locked so only one process works on it at a time."""
    statement = (select(rescore_jobs).where(rescore_jobs.c.status == "running")
                 .order_by(rescore_jobs.c.id).limit(1).with_for_update(skip_locked=True))
    row = (await conn.execute(statement)).one_or_none()
    return None if row is None else RescoreJob(**row._mapping)


async def advance_job(conn: AsyncConnection, job_id: int, cursor: UUID | None, visited: int,
                      finished: bool) -> None:
    """Move a job's cursor past a committed batch."""
    values: dict[str, Any] = {"cursor": cursor, "done": rescore_jobs.c.done + visited}
    if finished:
        values |= {"status": "done", "finished_at": func.now()}
    await conn.execute(update(rescore_jobs).where(rescore_jobs.c.id == job_id).values(**values))


async def jobs_of(conn: AsyncConnection, version: int, limit: int = 10) -> list[RescoreJob]:
    """A version's latest re-score jobs, newest first."""
    statement = (select(rescore_jobs).where(rescore_jobs.c.model_version == version)
                 .order_by(rescore_jobs.c.id.desc()).limit(limit))
    return [RescoreJob(**row._mapping) for row in await conn.execute(statement)]


JOB_ORDER = Keyset((rescore_jobs.c.id,), (int,), descending=True)
"""A version's re-score jobs are listed newest first."""


async def job_page(conn: AsyncConnection, version: int, cursor: str | None,
                   limit: int) -> list[RescoreJob]:
    """A page of a version's re-score jobs, newest first (limit + 1 rows: JOB_ORDER.page
    cuts it)."""
    rows = await conn.execute(JOB_ORDER.select(
        select(rescore_jobs).where(rescore_jobs.c.model_version == version), cursor, limit))
    return [RescoreJob(**row._mapping) for row in rows]


async def last_job_start(conn: AsyncConnection, reason: str) -> datetime | None:
    """When the latest job for a reason started."""
    started: datetime | None = await conn.scalar(
        select(func.max(rescore_jobs.c.started_at)).where(rescore_jobs.c.reason == reason))
    return started
