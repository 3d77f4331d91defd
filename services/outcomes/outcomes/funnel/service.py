"""Outcomes' use cases: record deals from sales tools, keep the funnel, answer reports."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import Actor, EventData, event_time_now
from leadloop.handlers import Item
from leadloop.lifecycle import LifecycleStage
from outcomes.accounts.domain import AccountRollup, ContactFilter, account_rollup
from outcomes.closures import api as closures
from outcomes.digest.domain import DigestInputs
from outcomes.funnel import domain, repository
from outcomes.funnel.domain import Deal, DealChange, DealReport, FunnelReport, Stage
from outcomes.funnel.facts import fold_funnel
from outcomes.lifecycle import domain as lifecycle
from outcomes.lifecycle import repository as lifecycle_repository
from outcomes.reports import domain as reports
from outcomes.reports import repository as report_queries
from outcomes.reports import sales as sales_reports
from outcomes.reports.attribution import AttributeBy, AttributionReport, Model, attribute
from outcomes.reports.markets import (
    MIN_SAMPLE,
    MarketBy,
    MarketReport,
    market_breakdown,
    parse_market_by,
)
from outcomes.reports.repeat import MIN_CUSTOMERS, RepeatBy, RepeatReport, repeat_report
from outcomes.timeline.domain import timeline_rows


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


async def apply_funnel_events(uow: UnitOfWork, events: Sequence[EventData]) -> None:
    """Fold a batch's events (in consumption order) into the read model: the leads' funnel
    rows, the touch log, closed deals. A fixed number of statements whatever the batch's size:
    nothing is read first, as every column's merge rule runs in the upsert itself (race-free
    against a replica applying another topic's events of the same lead)."""
    await repository.save_funnel_plan(await uow.driver(), fold_funnel(events))


async def apply_timeline(uow: UnitOfWork, items: Sequence[Item[EventData]]) -> None:
    """Add an entry per event to its lead's timeline; one statement whatever the batch's size."""
    await repository.save_timeline(await uow.driver(), timeline_rows(items))


async def apply_lifecycle(uow: UnitOfWork, items: Sequence[Item[EventData]]) -> None:
    """Move the batch's leads along their lifecycle and announce each change: three
    statements whatever the batch's size, none when no event in it moves a stage (page
    views, scores)."""
    moving = [item for item in items if lifecycle.cause_of(item.event, None) is not None]
    if not moving:
        return
    driver = await uow.driver()
    stored = await lifecycle_repository.lock_stages(
        driver, sorted({item.event.lead_id for item in moving}))  # type: ignore[attr-defined]
    plan = lifecycle.plan_stages(moving, stored)
    await lifecycle_repository.save_stages(driver, plan.rows.values())
    for change in plan.changes:
        uow.publish(change)


class LeadNotFound(Exception):
    """Outcomes has never heard of this lead (or it was erased)."""


async def reset_stage(uow: UnitOfWork, lead_id: UUID, stage: LifecycleStage, reason: str,
                      by: Actor) -> lifecycle.LeadLifecycle:
    """An admin sets a lead's stage (any direction); announced as lead.stage_changed."""
    current = await lifecycle_repository.lock_stage(uow.connection, lead_id)
    if current is None or current.erased:
        raise LeadNotFound
    after, change = lifecycle.reset(current, stage, reason, by, event_time_now())
    await lifecycle_repository.save_stage(uow.connection, after)
    uow.publish(change)
    return after


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
    await closures.anonymize_closures(conn, lead_id, anonymous_id)
    await repository.anonymize_report_rows(conn, lead_id, anonymous_id)
    await repository.erase_timeline(conn, lead_id)
    await lifecycle_repository.erase_stage(conn, lead_id)


async def funnel(uow: UnitOfWork, created_from: datetime | None,
                 created_to: datetime | None) -> FunnelReport:
    """The funnel of the leads created in [created_from, created_to)."""
    stage_counts, pair_counts, not_converted = await repository.funnel_counts(
        uow.connection, created_from, created_to)
    return domain.funnel_report(stage_counts, pair_counts, not_converted)


# --- reports -------------------------------------------------------------------------------
# The window is on when leads were created (a cohort), except for rejections: on when rejected.


async def funnel_breakdown(uow: UnitOfWork, created_from: datetime | None,
                           created_to: datetime | None, by: reports.GroupBy | None,
                           period: reports.Period,
                           lifecycle_stage: LifecycleStage | None = None
                           ) -> list[reports.FunnelGroup]:
    """The funnel with time in stage, overall or per group (of leads now at
    `lifecycle_stage`, when given)."""
    leads = await report_queries.lead_facts(uow.connection, created_from, created_to,
                                            lifecycle_stage=lifecycle_stage)
    return reports.funnel_breakdown(leads, by, period)


async def speed_to_lead(uow: UnitOfWork, created_from: datetime | None,
                        created_to: datetime | None) -> sales_reports.SpeedToLead:
    """How fast leads reach a rep and the rep answers, and the win rate per response time."""
    leads = await report_queries.lead_facts(uow.connection, created_from, created_to)
    return sales_reports.speed_to_lead(leads)


async def score_calibration(uow: UnitOfWork, created_from: datetime | None,
                            created_to: datetime | None) -> sales_reports.ScoreCalibration:
    """Win rate per score band and for MQLs vs the rest."""
    leads = await report_queries.lead_facts(uow.connection, created_from, created_to)
    return sales_reports.score_calibration(leads)


async def rejections(uow: UnitOfWork, rejected_from: datetime | None,
                     rejected_to: datetime | None,
                     period: reports.Period) -> sales_reports.RejectionReport:
    """Why sales rejected leads in the window."""
    leads = await report_queries.rejected_leads(uow.connection, rejected_from, rejected_to)
    return sales_reports.rejection_report(leads, period)


async def markets(uow: UnitOfWork, created_from: datetime | None, created_to: datetime | None,
                  by: MarketBy, stage: Stage, min_sample: int = MIN_SAMPLE,
                  lifecycle_stage: LifecycleStage | None = None) -> MarketReport:
    """Funnel, conversion (with its interval against the average), win rate, revenue and
    speed to lead per country, region, company-size band, industry, source or lead property."""
    conn = uow.connection
    leads = await report_queries.lead_facts(conn, created_from, created_to, by.property_name,
                                            lifecycle_stage)
    revenue = await report_queries.won_revenue(conn, created_from, created_to)
    return market_breakdown(leads, revenue, by, stage, min_sample)


async def repeat_customers(uow: UnitOfWork, created_from: datetime | None,
                           created_to: datetime | None, by: RepeatBy, currency: str | None,
                           min_sample: int = MIN_CUSTOMERS,
                           lifecycle_stage: LifecycleStage | None = None) -> RepeatReport:
    """Repeat-purchase rate, time to the second purchase and first/repeat revenue per
    customer, per campaign, source, country or rep (customers among leads created in the
    window)."""
    conn = uow.connection
    leads = await report_queries.lead_facts(conn, created_from, created_to,
                                            lifecycle_stage=lifecycle_stage)
    deals = await report_queries.won_deals(conn, created_from, created_to)
    return repeat_report(leads, deals, by, currency, min_sample)


async def accounts(uow: UnitOfWork, created_from: datetime | None, created_to: datetime | None,
                   currency: str | None, min_sample: int = MIN_CUSTOMERS,
                   lifecycle_stage: LifecycleStage | None = None,
                   keep: ContactFilter = ContactFilter()) -> AccountRollup:
    """Every account's owner, contacts by stage, deals, customers, first/repeat revenue and
    repeat-purchase rate, over its contacts created in the window (at `lifecycle_stage` and
    passing `keep`, when given)."""
    conn = uow.connection
    contacts = await report_queries.account_contacts(conn, created_from, created_to,
                                                     lifecycle_stage)
    won, lost, opened = await report_queries.account_deals(conn, created_from, created_to)
    return account_rollup(contacts, won, lost, opened, currency, min_sample, keep)


async def digest_inputs(uow: UnitOfWork, start: datetime, end: datetime) -> DigestInputs:
    """The reports a digest is composed from, through the same functions the report endpoints
    call for the window [start, end): the digest's numbers are theirs."""
    [funnel] = await funnel_breakdown(uow, start, end, None, reports.Period.week)
    return DigestInputs(
        funnel=funnel, speed=await speed_to_lead(uow, start, end),
        rejections=await rejections(uow, start, end, reports.Period.week),
        by_source=await markets(uow, start, end, parse_market_by("source"), Stage.won),
        by_market=await markets(uow, start, end, parse_market_by("country"), Stage.won),
        repeat=await repeat_customers(uow, start, end, RepeatBy.campaign, None),
        accounts=await accounts(uow, start, end, None),
    )


async def attribution(uow: UnitOfWork, created_from: datetime | None,
                      created_to: datetime | None, model: Model, by: AttributeBy,
                      currency: str | None) -> tuple[AttributionReport, str | None, list[str]]:
    """Won deals and revenue per campaign or source under `model`, in one currency (by default
    the one with the most won revenue); also answers which currencies there are."""
    conn = uow.connection
    currencies = await report_queries.won_currencies(conn, created_from, created_to)
    chosen = currency or (currencies[0] if currencies else None)
    touches, conversions = ([], []) if chosen is None else \
        await report_queries.attribution_inputs(conn, created_from, created_to, chosen)
    return attribute(touches, conversions, model, by), chosen, currencies
