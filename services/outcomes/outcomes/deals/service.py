"""Deals' use case: record a sales tool's deal once per external id, announce changes."""

from typing import Literal

from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from outcomes.deals import domain, repository
from outcomes.deals.domain import Deal, DealChange, DealReport
from outcomes.exceptions import DealRefused
from outcomes.funnel.repository import lead_is_erased

DealOutcome = Literal["created", "updated", "unchanged"]


async def record_deal(uow: UnitOfWork, report: DealReport) -> tuple[Deal, DealOutcome]:
    """Store a sales tool's deal once per external id, and announce status changes."""
    conn = uow.connection
    now = event_time_now()
    if await lead_is_erased(conn, report.lead_id):
        raise DealRefused("this lead was erased; its deals are no longer recorded")
    deal = domain.new_deal(report, now)
    if await repository.insert_deal_if_new(conn, deal):
        uow.publish(domain.deal_event(deal))
        return deal, "created"

    decision = domain.decide_deal_change(await repository.lock_deal(conn, report.external_id),
                                         report, now)
    match decision.change:
        case DealChange.conflict:
            raise DealRefused(decision.reason)
        case DealChange.unchanged:
            return decision.deal, "unchanged"
        case DealChange.updated:
            await repository.save_deal(conn, decision.deal)
        case DealChange.closed:
            await repository.save_deal(conn, decision.deal)
            uow.publish(domain.deal_event(decision.deal))
    return decision.deal, "updated"
