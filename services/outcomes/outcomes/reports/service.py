"""Report use cases: load the read model's rows for a window, answer with the pure report.

The window is on when leads were created (a cohort), except for rejections: on when rejected.
"""

from datetime import datetime

from leadloop.db import UnitOfWork
from leadloop.lifecycle import LifecycleStage
from outcomes.funnel.domain import Stage
from outcomes.reports import domain as reports
from outcomes.reports import repository as report_queries
from outcomes.reports import sales as sales_reports
from outcomes.reports.attribution import AttributeBy, AttributionReport, Model, attribute
from outcomes.reports.markets import MIN_SAMPLE, MarketBy, MarketReport, market_breakdown
from outcomes.reports.repeat import MIN_CUSTOMERS, RepeatBy, RepeatReport, repeat_report


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
