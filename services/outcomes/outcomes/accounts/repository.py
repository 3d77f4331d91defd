"""Account queries: the contacts of each account and their deals, for a window."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outcomes.accounts.domain import Contact
from outcomes.funnel.counted import counted_closed_deals, counted_deals, counted_leads
from outcomes.reports.repeat import WonDeal
from outcomes.reports.repository import in_lifecycle_stage, in_window
from outcomes.tables import lead_lifecycle

# The lead's account: the one handoff named (admin aliases applied), else its email's company
# domain.
ACCOUNT = func.coalesce(counted_leads.c.handed_off_account, counted_leads.c.account)


def _account_leads(query: Select[Any], created_from: datetime | None,
                   created_to: datetime | None) -> Select[Any]:
    """Only counted leads with an account, created in the window."""
    c = counted_leads.c
    query = query.where(~c.erased, c.lead_at.is_not(None), ACCOUNT.is_not(None))
    narrowed: Select[Any] = in_window(query, c.lead_at, created_from, created_to)
    return narrowed


async def account_contacts(conn: AsyncConnection, created_from: datetime | None,
                           created_to: datetime | None, lifecycle_stage: str | None = None
                           ) -> list[Contact]:
    """Every counted lead with an account created in the window (and at `lifecycle_stage`,
    when given), with its lifecycle stage and latest rep."""
    c = counted_leads.c
    query = select(
        c.lead_id, ACCOUNT.label("account"), lead_lifecycle.c.stage, c.rep_id, c.rep_name,
        c.rep_at, func.coalesce(c.campaign, c.utm_campaign).label("campaign"),
        func.coalesce(c.utm_source, c.channel).label("source"), c.country,
    ).select_from(counted_leads.outerjoin(lead_lifecycle, lead_lifecycle.c.lead_id == c.lead_id))
    query = _account_leads(in_lifecycle_stage(query, lifecycle_stage), created_from, created_to)
    return [Contact(**row._mapping) for row in await conn.execute(query)]


async def account_deals(conn: AsyncConnection, created_from: datetime | None,
                        created_to: datetime | None
                        ) -> tuple[list[WonDeal], dict[UUID, int], dict[UUID, int]]:
    """The deals of the leads with an account created in the window: the won ones, and per lead
    how many it lost and how many it had opened (any status; from the deals sales tools
    reported, as deal.closed carries only closed ones)."""
    lead, closed = counted_leads.c, counted_closed_deals.c
    rows = await conn.execute(_account_leads(
        select(closed.deal_id, closed.lead_id, closed.outcome, closed.amount_minor,
               closed.currency, closed.closed_at)
        .join(counted_leads, lead.lead_id == closed.lead_id), created_from, created_to))
    won: list[WonDeal] = []
    lost: dict[UUID, int] = {}
    for row in rows:
        if row.outcome == "won":
            won.append(WonDeal(row.deal_id, row.lead_id, row.amount_minor, row.currency,
                               row.closed_at))
        else:
            lost[row.lead_id] = lost.get(row.lead_id, 0) + 1
    opened = await conn.execute(_account_leads(
        select(counted_deals.c.lead_id, func.count().label("deals"))
        .join(counted_leads, lead.lead_id == counted_deals.c.lead_id)
        .group_by(counted_deals.c.lead_id),
        created_from, created_to))
    return won, lost, {row.lead_id: int(row.deals) for row in opened}
