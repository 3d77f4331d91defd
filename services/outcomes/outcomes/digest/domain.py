"""The digest both teams read each period: what marketing sent, what sales did with it, what was
won, where, and what moved. Pure: it is composed from the report objects the report endpoints
return for the same window, so its numbers are theirs (one source of truth)."""

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from outcomes.accounts.domain import AccountRollup, AccountSort, sort_rows
from outcomes.funnel.domain import Stage
from outcomes.reports.domain import FunnelGroup
from outcomes.reports.markets import MarketReport, MarketRow, Signal
from outcomes.reports.repeat import RepeatReport, RepeatRow, RepeatSegment
from outcomes.reports.sales import RejectionReport, SpeedToLead

TOP_REASONS = 3
TOP_MOVERS = 5
TOP_ACCOUNTS = 5


@dataclass(frozen=True, slots=True)
class DigestInputs:
    """The reports of one period, exactly as the report endpoints give them for its window."""

    funnel: FunnelGroup  # GET /v1/reports/funnel
    speed: SpeedToLead  # GET /v1/reports/speed-to-lead
    rejections: RejectionReport  # GET /v1/reports/rejections
    by_source: MarketReport  # GET /v1/reports/markets?by=source
    by_market: MarketReport  # GET /v1/reports/markets?by=country
    repeat: RepeatReport | None = None  # GET /v1/reports/repeat-customers?by=campaign
    accounts: AccountRollup | None = None  # GET /v1/reports/accounts


class Headline(BaseModel):
    """The period's leads (created in it) and how far they got; rejections made in it."""

    leads: int
    mqls: int
    handoffs: int
    accepted: int
    rejected: int = Field(description="leads rejected by sales during the period")
    opportunities: int
    won: int
    lost: int
    win_rate: float | None = Field(description="won / leads")
    revenue_minor: dict[str, int] = Field(description="won revenue per currency")


class SpeedSummary(BaseModel):
    """Handoff to the rep's first contact, against the SLA."""

    contacted: int
    median_s: float | None
    p90_s: float | None
    sla_s: float
    median_within_sla: bool | None
    p90_within_sla: bool | None
    never_contacted: int


class ReasonCount(BaseModel):
    """A rejection reason and how often sales gave it."""

    reason: str
    count: int


class Segment(BaseModel):
    """One source or market: n, win rate with its interval, and revenue."""

    key: str
    leads: int
    small_sample: bool
    won: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    signal: Signal
    revenue_minor: dict[str, int]


class RepeatSummary(BaseModel):
    """Customers among the period's leads who bought again: overall and per campaign."""

    currency: str | None
    overall: RepeatSegment
    by_campaign: list[RepeatSegment]


def repeat_segment(row: RepeatRow) -> RepeatSegment:
    """A repeat-customer row as the digest shows it (and stores it): its RepeatSegment part."""
    return RepeatSegment.model_validate(row.model_dump(include=set(RepeatSegment.model_fields)))


def repeat_summary(report: RepeatReport | None) -> RepeatSummary | None:
    """The digest's repeat-customer section (None when the inputs had no such report)."""
    if report is None:
        return None
    return RepeatSummary(currency=report.currency, overall=repeat_segment(report.overall),
                         by_campaign=[repeat_segment(r) for r in report.rows])


class AccountLine(BaseModel):
    """One of the period's top accounts by won revenue."""

    domain: str
    owner_rep_name: str | None
    contacts: int
    customers: int
    deals_won: int
    repeat_purchases: int
    revenue_minor: int
    first_revenue_minor: int
    repeat_revenue_minor: int
    small_sample: bool


class TopAccounts(BaseModel):
    """The accounts whose leads of the period won the most revenue (in one currency)."""

    currency: str | None
    accounts: list[AccountLine]


def top_accounts(rollup: AccountRollup | None, top: int = TOP_ACCOUNTS) -> TopAccounts | None:
    """The digest's top-accounts section: the account report's first rows by revenue, those
    with won revenue only (None when the inputs had no account report)."""
    if rollup is None:
        return None
    rows = [r for r in sort_rows(rollup.rows, AccountSort.revenue) if r.revenue_minor][:top]
    return TopAccounts(currency=rollup.currency, accounts=[AccountLine(
        domain=r.domain, owner_rep_name=r.owner_rep_name, contacts=r.contacts,
        customers=r.customers, deals_won=r.deals_won, repeat_purchases=r.repeat_purchases,
        revenue_minor=r.revenue_minor, first_revenue_minor=r.first_revenue_minor,
        repeat_revenue_minor=r.repeat_revenue_minor, small_sample=r.small_sample)
        for r in rows])


class Mover(BaseModel):
    """A source or market whose lead count changed most against the previous period."""

    dimension: str
    key: str
    previous_leads: int
    leads: int
    change: int
    previous_win_rate: float | None
    win_rate: float | None


class Digest(BaseModel):
    """One period's digest."""

    period: str
    schedule: str
    start: datetime
    end: datetime
    previous_period: str
    headline: Headline
    previous_headline: Headline
    speed_to_lead: SpeedSummary
    top_rejection_reasons: list[ReasonCount]
    by_source: list[Segment]
    by_market: list[Segment] = Field(description="by country")
    movers: list[Mover]
    repeat_customers: RepeatSummary | None = Field(
        default=None, description="customers among the period's leads who bought again")
    top_accounts: TopAccounts | None = Field(
        default=None, description="the accounts whose leads of the period won the most")


def headline(inputs: DigestInputs) -> Headline:
    """The headline numbers of one period."""
    counts = inputs.funnel.counts
    overall = inputs.by_source.overall
    return Headline(
        leads=counts[Stage.lead.value], mqls=counts[Stage.mql.value],
        handoffs=counts[Stage.handed_off.value], accepted=counts[Stage.accepted.value],
        rejected=inputs.rejections.total, opportunities=counts[Stage.opportunity.value],
        won=counts[Stage.won.value], lost=counts[Stage.lost.value],
        win_rate=overall.win_rate, revenue_minor=overall.revenue_minor,
    )


def _within(value: float | None, sla_s: float) -> bool | None:
    return None if value is None else value <= sla_s


def speed_summary(speed: SpeedToLead, sla_s: float) -> SpeedSummary:
    """Median and p90 handoff to first contact, each against the SLA."""
    contact = speed.to_first_contact
    return SpeedSummary(contacted=contact.count, median_s=contact.median_s,
                        p90_s=contact.p90_s, sla_s=sla_s,
                        median_within_sla=_within(contact.median_s, sla_s),
                        p90_within_sla=_within(contact.p90_s, sla_s),
                        never_contacted=speed.never_contacted)


def segment(row: MarketRow) -> Segment:
    """A market row as the digest shows it (the breakdown's conversion is to won)."""
    return Segment(key=row.key, leads=row.leads, small_sample=row.small_sample,
                   won=row.counts[Stage.won.value], win_rate=row.win_rate,
                   ci_low=row.conversion.ci_low, ci_high=row.conversion.ci_high,
                   signal=row.conversion.signal, revenue_minor=row.revenue_minor)


def movers(current: DigestInputs, previous: DigestInputs, top: int = TOP_MOVERS) -> list[Mover]:
    """Sources and markets whose lead count changed most, largest change first."""
    found = []
    for dimension, now, before in (("source", current.by_source, previous.by_source),
                                   ("country", current.by_market, previous.by_market)):
        now_rows = {r.key: r for r in now.rows}
        before_rows = {r.key: r for r in before.rows}
        for key in now_rows.keys() | before_rows.keys():
            a, b = before_rows.get(key), now_rows.get(key)
            leads_before, leads_now = (a.leads if a else 0), (b.leads if b else 0)
            if leads_before == leads_now:
                continue
            found.append(Mover(dimension=dimension, key=key, previous_leads=leads_before,
                               leads=leads_now, change=leads_now - leads_before,
                               previous_win_rate=a.win_rate if a else None,
                               win_rate=b.win_rate if b else None))
    found.sort(key=lambda m: (-abs(m.change), m.dimension, m.key))
    return found[:top]


def compose(period: str, schedule: str, start: datetime, end: datetime, previous_period: str,
            current: DigestInputs, previous: DigestInputs, sla_s: float) -> Digest:
    """The digest of one period, with the previous period for comparison."""
    reasons = sorted(current.rejections.reasons.items(), key=lambda item: (-item[1], item[0]))
    return Digest(
        period=period, schedule=schedule, start=start, end=end, previous_period=previous_period,
        headline=headline(current), previous_headline=headline(previous),
        speed_to_lead=speed_summary(current.speed, sla_s),
        top_rejection_reasons=[ReasonCount(reason=r, count=n) for r, n in reasons[:TOP_REASONS]],
        by_source=[segment(r) for r in current.by_source.rows],
        by_market=[segment(r) for r in current.by_market.rows],
        movers=movers(current, previous),
        repeat_customers=repeat_summary(current.repeat),
        top_accounts=top_accounts(current.accounts),
    )
