"""Outcomes' use cases: record deals from sales tools, keep the funnel, answer reports."""

import uuid
from datetime import datetime
from typing import Literal
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import EventData, LeadCreated, event_time_now
from outcomes import domain, repository
from outcomes.domain import Deal, DealChange, DealReport, FunnelReport


class DealRefused(Exception):
    """A report the deal cannot take (a closed deal changing, a deal of an erased lead)."""


DealOutcome = Literal["created", "updated", "unchanged"]


async def record_deal(uow: UnitOfWork, report: DealReport) -> tuple[Deal, DealOutcome]:
    """Store a sales tool's deal once per external id, and announce status changes."""
    conn = uow.connection
    now = event_time_now()
    if await repository.lead_is_erased(conn, report.lead_id):
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


async def record_funnel_event(uow: UnitOfWork, event: EventData, lead_id: UUID) -> None:
    """Move the lead's funnel row to the stages `event` shows it reached."""
    source = None
    if isinstance(event, LeadCreated):
        source = {
            "channel": event.source.channel, "campaign": event.source.campaign,
            "utm_source": event.source.utm_source, "utm_medium": event.source.utm_medium,
            "utm_campaign": event.source.utm_campaign, "utm_term": event.source.utm_term,
            "utm_content": event.source.utm_content, "form_id": event.form_id,
        }
    await repository.record_funnel_facts(uow.connection, lead_id,
                                         stages=domain.stages_reached(event), source=source)


async def record_rejection(uow: UnitOfWork, lead_id: UUID, reason: str,
                           rejected_at: datetime) -> None:
    """Keep that sales rejected the lead, and why."""
    await repository.record_funnel_facts(uow.connection, lead_id,
                                         rejection=(rejected_at, reason))


async def erase_lead(uow: UnitOfWork, lead_id: UUID) -> None:
    """Forget who the lead was; its numbers stay in the funnel as an anonymous row."""
    conn = uow.connection
    held = await repository.mark_funnel_lead_erased(conn, lead_id)
    anonymous_id = uuid.uuid4()
    copy = domain.anonymous_copy(held, anonymous_id)
    if copy is not None:
        await repository.insert_anonymous_funnel_row(conn, copy)
    await repository.clear_funnel_lead(conn, lead_id)
    await repository.anonymize_deals(conn, lead_id, anonymous_id)


async def funnel(uow: UnitOfWork, created_from: datetime | None,
                 created_to: datetime | None) -> FunnelReport:
    """The funnel of the leads created in [created_from, created_to)."""
    stage_counts, pair_counts = await repository.funnel_counts(uow.connection, created_from,
                                                               created_to)
    return domain.funnel_report(stage_counts, pair_counts)
