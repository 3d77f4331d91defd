"""Report routes (scope reports:read)."""

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.lifecycle import LifecycleStage
from leadloop.problems import invalid_query
from outcomes.funnel.domain import Stage
from outcomes.reports import service
from outcomes.reports.attribution import AttributeBy, Model
from outcomes.reports.domain import FunnelGroup, GroupBy, Period
from outcomes.reports.markets import MIN_SAMPLE, MarketBy, MarketReport, parse_market_by
from outcomes.reports.repeat import MIN_CUSTOMERS, RepeatBy, RepeatReport
from outcomes.reports.sales import RejectionReport, ScoreCalibration, SpeedToLead
from outcomes.reports.schemas import AttributionOut
from outcomes.reports.window import Window

router = APIRouter(prefix="/v1", tags=["reports"])
_reports = [Depends(require_scope("reports:read"))]


def lifecycle_filter(lifecycle_stage: LifecycleStage | None = Query(
        default=None, description="only leads now at this lifecycle stage (leadloop.lifecycle)"
        )) -> LifecycleStage | None:
    """FastAPI dependency: the optional lifecycle-stage filter of a report."""
    return lifecycle_stage


class FunnelReport(BaseModel):
    """The funnel of the leads created in the window: one group overall, or one per value of
    `by` (an object, not a bare array, like every other answer)."""

    by: GroupBy | None
    groups: list[FunnelGroup]


@router.get("/reports/funnel", response_model=FunnelReport, dependencies=_reports)
async def funnel_report(
    window: Window = Depends(),
    by: GroupBy | None = Query(default=None, description="break the funnel down by this"),
    period: Period = Query(default=Period.week, description="buckets when by=period"),
    lifecycle_stage: LifecycleStage | None = Depends(lifecycle_filter),
    uow: UnitOfWork = Depends(unit_of_work),
) -> FunnelReport:
    """Counts per stage, stage-to-stage conversion and median / p90 time in stage, for leads
    created in the window (and now at `lifecycle_stage`, when given); overall, or per period,
    source, campaign, UTM field, rep or score band."""
    async with uow:
        groups = await service.funnel_breakdown(uow, window.start, window.end, by, period,
                                                lifecycle_stage)
    return FunnelReport(by=by, groups=groups)


@router.get("/reports/speed-to-lead", response_model=SpeedToLead, dependencies=_reports)
async def speed_to_lead_report(window: Window = Depends(),
                               uow: UnitOfWork = Depends(unit_of_work)) -> SpeedToLead:
    """Created -> handed off and handed off -> first contact, and win rate by response time."""
    async with uow:
        return await service.speed_to_lead(uow, window.start, window.end)


def market_by(by: str = Query(
        description="country, region, company_size, industry, source, or property:<name> "
                    "(any lead property, custom ones included)")) -> MarketBy:
    """FastAPI dependency: the parsed `by` of the market breakdown; 422 naming it if bad."""
    try:
        return parse_market_by(by)
    except ValueError as exc:
        raise invalid_query("by", str(exc)) from None


@router.get("/reports/markets", response_model=MarketReport, dependencies=_reports)
async def markets_report(
    window: Window = Depends(),
    by: MarketBy = Depends(market_by),
    stage: Stage = Query(default=Stage.won,
                         description="conversion is the share of leads that reached this"),
    min_sample: int = Query(default=MIN_SAMPLE, ge=1, le=100_000,
                            description="markets with fewer leads are flagged small_sample"),
    lifecycle_stage: LifecycleStage | None = Depends(lifecycle_filter),
    uow: UnitOfWork = Depends(unit_of_work),
) -> MarketReport:
    """Where the product sells: per market (leads created in the window), the funnel, stage
    conversion, win rate, revenue and speed to lead, with n, a 95% Wilson interval on the
    conversion and whether it is above, below or level with the average of all leads. Ranked
    by conversion."""
    async with uow:
        return await service.markets(uow, window.start, window.end, by, stage, min_sample,
                                     lifecycle_stage)


@router.get("/reports/repeat-customers", response_model=RepeatReport, dependencies=_reports)
async def repeat_customers_report(
    window: Window = Depends(),
    by: RepeatBy = Query(default=RepeatBy.campaign, description="group customers by this"),
    currency: str | None = Query(default=None, pattern="^[A-Z]{3}$",
                                 description="revenue in this currency; default: the one with "
                                 "the most won revenue"),
    min_sample: int = Query(default=MIN_CUSTOMERS, ge=1, le=100_000,
                            description="groups with fewer customers are flagged small_sample"),
    lifecycle_stage: LifecycleStage | None = Depends(lifecycle_filter),
    uow: UnitOfWork = Depends(unit_of_work),
) -> RepeatReport:
    """Who buys again: of the customers among leads created in the window (a lead with a won
    deal), the share with a second won deal (95% Wilson interval, compared with all
    customers), median / p90 days from first to second purchase, and revenue per customer
    split into first and repeat purchases; per campaign, source, country or rep."""
    async with uow:
        return await service.repeat_customers(uow, window.start, window.end, by, currency,
                                              min_sample, lifecycle_stage)


@router.get("/reports/attribution", response_model=AttributionOut, dependencies=_reports)
async def attribution_report(
    window: Window = Depends(),
    model: Model = Query(default=Model.linear, description="the attribution model"),
    by: AttributeBy = Query(default=AttributeBy.campaign),
    currency: str | None = Query(default=None, pattern="^[A-Z]{3}$",
                                 description="default: the one with the most won revenue"),
    uow: UnitOfWork = Depends(unit_of_work),
) -> AttributionOut:
    """Won deals and revenue of leads created in the window, credited to campaigns or sources
    by the chosen model over the raw touch log."""
    async with uow:
        report, chosen, currencies = await service.attribution(
            uow, window.start, window.end, model, by, currency)
    return AttributionOut.of(report, chosen, currencies)


@router.get("/reports/score-calibration", response_model=ScoreCalibration,
            dependencies=_reports)
async def score_calibration_report(window: Window = Depends(),
                                   uow: UnitOfWork = Depends(unit_of_work)) -> ScoreCalibration:
    """Win rate per score band, and MQLs vs the rest: does the shared definition work?"""
    async with uow:
        return await service.score_calibration(uow, window.start, window.end)


@router.get("/reports/rejections", response_model=RejectionReport, dependencies=_reports)
async def rejection_report(
    window: Window = Depends(),
    period: Period = Query(default=Period.week),
    uow: UnitOfWork = Depends(unit_of_work),
) -> RejectionReport:
    """Why sales rejected leads (rejected in the window): reasons over time and by source."""
    async with uow:
        return await service.rejections(uow, window.start, window.end, period)
