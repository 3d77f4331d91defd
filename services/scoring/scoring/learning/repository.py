"""Queries about outcomes (closed deals and leads closed not converted): storing them, and
reading them back with their leads to train on or replay in a backtest."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from scoring.leads.repository import scorable
from scoring.tables import deal_outcomes, lead_activities, leads


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """An outcome with its lead's stored profile, consent and source (jsonb as stored; the
    outcome's own snapshot, in `features`, is preferred)."""

    lead_id: UUID
    outcome: str
    closed_at: datetime
    features: dict[str, Any]
    profile: dict[str, Any] | None
    consent: dict[str, Any] | None
    source: dict[str, Any] | None


class ReplayRow(NamedTuple):
    """A scorable lead as a backtest replays it: jsonb as the driver returns it (decoded, or
    JSON text), its activities as arrays oldest first with times in Unix seconds, and its best
    outcome. A tuple, in the statement's column order: 100,000 of them are read at once."""

    lead_id: UUID
    profile: Any
    created_at: float
    consent_withdrawn: Any
    consent: Any
    source: Any
    outcome: str | None
    kinds: list[str] | None
    urls: list[str | None] | None
    times: list[float] | None
    seconds: list[float | None] | None
    numbers: list[Any] | None


async def upsert_deal_outcome(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Store a closed deal as training data; a deal closed again keeps its latest outcome."""
    statement = insert(deal_outcomes).values(**values)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=[deal_outcomes.c.deal_id],
        set_={name: statement.excluded[name] for name in values if name != "deal_id"},
    ))


async def outcome_count(conn: AsyncConnection, since: datetime | None = None) -> int:
    """How many outcomes (closed deals, closed leads) are stored (recorded after `since`)."""
    statement = select(func.count()).select_from(deal_outcomes)
    if since is not None:
        statement = statement.where(deal_outcomes.c.recorded_at > since)
    return int(await conn.scalar(statement) or 0)


async def outcomes_with_profiles(conn: AsyncConnection, closed_from: datetime | None = None,
                                 closed_to: datetime | None = None) -> list[StoredOutcome]:
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
    return [StoredOutcome(**row._mapping) for row in await conn.execute(statement)]


async def replay_leads(conn: AsyncConnection) -> list[ReplayRow]:
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
        .where(*scorable())
    )
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = await conn.get_raw_connection()
    rows = await raw.driver_connection.fetch(sql)  # type: ignore[union-attr]
    return [ReplayRow(*row) for row in rows]
