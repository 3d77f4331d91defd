"""The queries behind the score API: a lead's score and history, many leads' scores, and the
list of model versions (GET /v1/models is published with the scores)."""

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.pagination import Keyset
from scoring.models.repository import StoredModel
from scoring.tables import leads, score_history, scoring_models


@dataclass(frozen=True, slots=True)
class ScoredLead:
    """What a reader is shown of a lead: its score, status, consent and last event (columns of
    the leads table; jsonb as stored)."""

    lead_id: UUID
    profile: dict[str, Any] | None
    consent: dict[str, Any] | None
    source: dict[str, Any] | None
    score: int | None
    fit_score: int | None
    engagement_score: int | None
    grade: str | None
    is_mql: bool
    model_version: int | None
    contributions: list[dict[str, Any]]
    scored_at: datetime | None
    qualification: str
    qualified_at: datetime | None
    disqualified_rule: str | None
    disqualified_reason: str | None
    disqualified_at: datetime | None
    erased_at: datetime | None
    win_probability: float | None
    consent_withdrawn: list[str]
    merged_into: UUID | None
    last_event_id: str | None
    last_event_type: str | None
    last_event_at: datetime | None


_SCORED_COLUMNS = [leads.c[field.name] for field in fields(ScoredLead)]


@dataclass(frozen=True, slots=True)
class ScoreChange:
    """One row of a lead's score history: the score after an event, and that event."""

    id: int
    lead_id: UUID
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    is_mql: bool
    model_version: int
    event_id: str | None
    scored_at: datetime
    win_probability: float | None


async def score_history_of(conn: AsyncConnection, lead_id: UUID,
                           limit: int) -> list[ScoreChange]:
    """A lead's `limit` latest score changes, oldest first."""
    latest = (
        select(score_history).where(score_history.c.lead_id == lead_id)
        .order_by(score_history.c.id.desc()).limit(limit).subquery()
    )
    rows = await conn.execute(select(latest).order_by(latest.c.id))
    return [ScoreChange(**row._mapping) for row in rows]


async def get_leads(conn: AsyncConnection, lead_ids: list[UUID]) -> dict[UUID, ScoredLead]:
    """Many leads, in one query, by id (unknown ids are left out)."""
    rows = await conn.execute(select(*_SCORED_COLUMNS).where(leads.c.lead_id.in_(lead_ids)))
    return {row.lead_id: ScoredLead(**row._mapping) for row in rows}


async def get_lead(conn: AsyncConnection, lead_id: UUID) -> ScoredLead | None:
    """A lead, or None."""
    row = (await conn.execute(select(*_SCORED_COLUMNS)
                              .where(leads.c.lead_id == lead_id))).one_or_none()
    return None if row is None else ScoredLead(**row._mapping)


async def list_models(conn: AsyncConnection) -> list[StoredModel]:
    """Every model version, oldest first."""
    rows = await conn.execute(select(scoring_models).order_by(scoring_models.c.version))
    return [StoredModel(**row._mapping) for row in rows]


MODEL_ORDER = Keyset((scoring_models.c.version,), (int,))
"""Model versions are listed oldest first."""


async def model_page(conn: AsyncConnection, cursor: str | None,
                     limit: int) -> list[StoredModel]:
    """A page of model versions, oldest first (limit + 1 rows: MODEL_ORDER.page cuts it)."""
    rows = await conn.execute(MODEL_ORDER.select(select(scoring_models), cursor, limit))
    return [StoredModel(**row._mapping) for row in rows]
