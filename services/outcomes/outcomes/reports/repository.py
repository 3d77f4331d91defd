"""The queries behind the reports: they load read-model rows; the math is in reports.py."""

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outcomes.funnel.counted import counted_closed_deals, counted_leads, counted_touches
from outcomes.reports.attribution import Conversion, Touch
from outcomes.reports.domain import FACT_FIELDS, LeadFacts
from outcomes.reports.markets import LeadRevenue
from outcomes.reports.repeat import WonDeal
from outcomes.tables import lead_lifecycle

SelectT = TypeVar("SelectT", bound=Select[Any])

_FACT_COLUMNS = [counted_leads.c[name] for name in FACT_FIELDS]


def in_window(query: SelectT, column: ColumnElement[Any], start: datetime | None,
              end: datetime | None) -> SelectT:
    """`query` narrowed to rows whose `column` lies in [start, end) (an open end: None)."""
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    return query


def in_lifecycle_stage(query: SelectT, stage: str | None) -> SelectT:
    """Only leads now at lifecycle `stage` (leadloop.lifecycle); all when None."""
    if stage is None:
        return query
    return query.where(counted_leads.c.lead_id.in_(
        select(lead_lifecycle.c.lead_id).where(lead_lifecycle.c.stage == stage)))


async def lead_facts(conn: AsyncConnection, created_from: datetime | None,
                     created_to: datetime | None,
                     property_name: str | None = None,
                     lifecycle_stage: str | None = None) -> list[LeadFacts]:
    """Every counted lead created in [created_from, created_to) (and at `lifecycle_stage`,
    when given); with `property_name`, each lead's value of that property too (as text, what
    `->>` gives)."""
    c = counted_leads.c
    columns: list[ColumnElement[Any]] = list(_FACT_COLUMNS)
    if property_name is not None:
        columns.append(c.properties.op("->>")(property_name).label("property"))
    query = in_window(in_lifecycle_stage(select(*columns).where(~c.erased, c.lead_at.is_not(None)),
                              lifecycle_stage), c.lead_at, created_from, created_to)
    result = await conn.execute(query)
    return [LeadFacts(**row._mapping) for row in result]


async def rejected_leads(conn: AsyncConnection, rejected_from: datetime | None,
                         rejected_to: datetime | None) -> list[LeadFacts]:
    """Every counted lead rejected in [rejected_from, rejected_to)."""
    c = counted_leads.c
    query = in_window(select(*_FACT_COLUMNS).where(~c.erased, c.rejected_at.is_not(None)),
                    c.rejected_at, rejected_from, rejected_to)
    result = await conn.execute(query)
    return [LeadFacts(**row._mapping) for row in result]


async def won_revenue(conn: AsyncConnection, created_from: datetime | None,
                      created_to: datetime | None) -> dict[UUID, LeadRevenue]:
    """Won deals and revenue per currency of each lead created in the window that won any."""
    lead, deal = counted_leads.c, counted_closed_deals.c
    query = in_window(
        select(deal.lead_id, deal.currency, func.count().label("won_deals"),
               func.sum(deal.amount_minor).label("revenue_minor"))
        .join(counted_leads, lead.lead_id == deal.lead_id)
        .where(deal.outcome == "won", ~lead.erased)
        .group_by(deal.lead_id, deal.currency), lead.lead_at, created_from, created_to)
    deals: dict[UUID, list[Any]] = {}
    for row in await conn.execute(query):
        deals.setdefault(row.lead_id, []).append(row)
    return {lead_id: LeadRevenue(sum(int(r.won_deals) for r in rows),
                                 {r.currency: int(r.revenue_minor) for r in rows})
            for lead_id, rows in deals.items()}


async def won_currencies(conn: AsyncConnection, created_from: datetime | None,
                         created_to: datetime | None) -> list[str]:
    """Currencies of won deals of leads created in the window, most won revenue first."""
    lead, deal = counted_leads.c, counted_closed_deals.c
    query = in_window(
        select(deal.currency)
        .join(counted_leads, lead.lead_id == deal.lead_id)
        .where(deal.outcome == "won", ~lead.erased)
        .group_by(deal.currency)
        .order_by(func.sum(deal.amount_minor).desc(), deal.currency),
        lead.lead_at, created_from, created_to)
    return list((await conn.execute(query)).scalars())


async def attribution_inputs(conn: AsyncConnection, created_from: datetime | None,
                             created_to: datetime | None,
                             currency: str) -> tuple[list[Touch], list[Conversion]]:
    """Won leads created in the window (revenue in `currency`) and the touches of those leads."""
    lead, deal = counted_leads.c, counted_closed_deals.c
    query = in_window(
        select(lead.lead_id, lead.mql_at, func.coalesce(lead.opportunity_at, lead.won_at)
               .label("converted_at"), func.count().label("won_deals"),
               func.sum(deal.amount_minor).label("revenue_minor"))
        .join(counted_closed_deals, deal.lead_id == lead.lead_id)
        .where(deal.outcome == "won", deal.currency == currency, ~lead.erased)
        .group_by(lead.lead_id, lead.mql_at, lead.opportunity_at, lead.won_at),
        lead.lead_at, created_from, created_to)
    conversions = [Conversion(lead_id=r.lead_id, won_deals=int(r.won_deals),
                              revenue_minor=int(r.revenue_minor), converted_at=r.converted_at,
                              mql_at=r.mql_at)
                   for r in await conn.execute(query)]
    if not conversions:
        return [], []
    won_leads = query.subquery()
    t = counted_touches.c
    rows = await conn.execute(
        select(t.lead_id, t.touch_id, t.occurred_at,
               func.coalesce(t.campaign, t.utm_campaign).label("campaign"),
               func.coalesce(t.utm_source, t.channel).label("source"))
        .where(t.lead_id.in_(select(won_leads.c.lead_id)))
    )
    return [Touch(r.lead_id, r.touch_id, r.occurred_at, r.campaign, r.source)
            for r in rows], conversions


async def won_deals(conn: AsyncConnection, created_from: datetime | None,
                    created_to: datetime | None) -> list[WonDeal]:
    """Every won deal of the counted leads created in the window."""
    lead, deal = counted_leads.c, counted_closed_deals.c
    query = in_window(
        select(deal.deal_id, deal.lead_id, deal.amount_minor, deal.currency, deal.closed_at)
        .join(counted_leads, lead.lead_id == deal.lead_id)
        .where(deal.outcome == "won", ~lead.erased), lead.lead_at, created_from, created_to)
    return [WonDeal(**row._mapping) for row in await conn.execute(query)]
