"""Repeat customers: who buys again, how soon, and what they bring. Pure, no I/O.

A customer is a lead with at least one won deal; its first purchase is its earliest won deal,
every later won deal a repeat purchase (a repeat purchase is a new deal, never an update of the
first). Per group (campaign, source, country, rep) and overall:

- the repeat-purchase rate: customers with a second won deal / customers, with its 95% Wilson
  interval, flagged `small_sample` below `min_sample` customers and compared with the overall
  rate (above / below / level) like the market breakdown;
- the median and p90 days from first to second purchase;
- revenue per customer, split into the first purchase and repeat purchases, in one currency.
"""

from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from outcomes.reports.domain import NONE_KEY, LeadFacts, campaign_of, quantile, rate, source_of
from outcomes.reports.markets import Signal, signal_of, wilson_interval

MIN_CUSTOMERS = 30
DAY_S = 86_400.0


class RepeatBy(StrEnum):
    """What the repeat-customer report groups customers by."""

    campaign = "campaign"
    source = "source"
    country = "country"
    rep = "rep"


_KEYS: dict[RepeatBy, Callable[[LeadFacts], str]] = {
    RepeatBy.campaign: campaign_of,
    RepeatBy.source: source_of,
    RepeatBy.country: lambda lead: lead.country or NONE_KEY,
    RepeatBy.rep: lambda lead: lead.rep_name or NONE_KEY,
}


@dataclass(frozen=True, slots=True)
class WonDeal:
    """A won deal of a lead."""

    deal_id: UUID
    lead_id: UUID
    amount_minor: int
    currency: str
    closed_at: datetime


class RepeatSegment(BaseModel):
    """Repeat customers of all leads or of one campaign: how many bought again, how soon."""

    key: str
    customers: int
    small_sample: bool
    repeat_customers: int
    repeat_purchase_rate: float | None
    ci_low: float | None
    ci_high: float | None
    signal: Signal
    days_to_second_median: float | None
    first_revenue_per_customer_minor: int | None
    repeat_revenue_per_customer_minor: int | None


# The digest shows (and stores) the RepeatSegment part of a row (outcomes.digest.domain).
class RepeatRow(RepeatSegment):
    """One group of customers: how many bought again, how soon, and what they brought."""

    model_config = ConfigDict(frozen=True)

    purchases: int
    repeat_purchases: int
    days_to_second_p90: float | None
    revenue_per_customer_minor: int | None


@dataclass(frozen=True, slots=True)
class RepeatReport:
    """Every group, largest first, and all customers as the average."""

    by: str
    currency: str | None
    min_sample: int
    overall: RepeatRow
    rows: list[RepeatRow]


def _per_customer(total: int, customers: int) -> int | None:
    return round(total / customers) if customers else None


def repeat_row(key: str, purchases: Mapping[UUID, Sequence[WonDeal]], currency: str | None,
               average: float | None, min_sample: int) -> RepeatRow:
    """The figures of one group of customers (`purchases`: each customer's won deals, oldest
    first, as `purchases_by_customer` gives them), its rate compared with `average`."""
    customers = len(purchases)
    repeaters = [deals for deals in purchases.values() if len(deals) > 1]
    interval = wilson_interval(len(repeaters), customers)
    low, high = interval if interval is not None else (None, None)
    gaps = sorted((deals[1].closed_at - deals[0].closed_at).total_seconds() / DAY_S
                  for deals in repeaters)
    first = sum(deals[0].amount_minor for deals in purchases.values()
                if deals[0].currency == currency)
    again = sum(d.amount_minor for deals in purchases.values() for d in deals[1:]
                if d.currency == currency)
    median, p90 = quantile(gaps, 0.5), quantile(gaps, 0.9)
    return RepeatRow(
        key=key, customers=customers, small_sample=customers < min_sample,
        repeat_customers=len(repeaters), repeat_purchase_rate=rate(len(repeaters), customers),
        ci_low=low, ci_high=high, signal=signal_of(interval, average),
        purchases=sum(len(d) for d in purchases.values()),
        repeat_purchases=sum(len(d) - 1 for d in purchases.values()),
        days_to_second_median=None if median is None else round(median, 2),
        days_to_second_p90=None if p90 is None else round(p90, 2),
        first_revenue_per_customer_minor=_per_customer(first, customers),
        repeat_revenue_per_customer_minor=_per_customer(again, customers),
        revenue_per_customer_minor=_per_customer(first + again, customers))


def main_currency(deals: Iterable[WonDeal]) -> str | None:
    """The currency with the most won revenue (ties: alphabetical); None without deals."""
    totals: dict[str, int] = defaultdict(int)
    for deal in deals:
        totals[deal.currency] += deal.amount_minor
    return min(totals, key=lambda c: (-totals[c], c)) if totals else None


def purchases_by_customer(deals: Iterable[WonDeal], customers: Container[UUID]
                          ) -> dict[UUID, list[WonDeal]]:
    """The won deals of each lead in `customers` that won any, oldest first (the first
    purchase, then the repeat purchases)."""
    purchases: dict[UUID, list[WonDeal]] = defaultdict(list)
    for deal in deals:
        if deal.lead_id in customers:
            purchases[deal.lead_id].append(deal)
    for bought in purchases.values():
        bought.sort(key=lambda d: (d.closed_at, str(d.deal_id)))
    return dict(purchases)


def repeat_report(leads: Iterable[LeadFacts], deals: Iterable[WonDeal], by: RepeatBy,
                  currency: str | None = None, min_sample: int = MIN_CUSTOMERS) -> RepeatReport:
    """Repeat purchases of the customers among `leads`, grouped `by`; revenue in `currency`
    (by default the one with the most won revenue)."""
    facts = {lead.lead_id: lead for lead in leads}
    purchases = purchases_by_customer(deals, facts)
    chosen = currency or main_currency(d for bought in purchases.values() for d in bought)
    overall = repeat_row("all", purchases, chosen, None, min_sample)
    groups: dict[str, dict[UUID, list[WonDeal]]] = defaultdict(dict)
    key = _KEYS[by]
    for lead_id, bought in purchases.items():
        groups[key(facts[lead_id])][lead_id] = bought
    rows = [repeat_row(k, members, chosen, overall.repeat_purchase_rate, min_sample)
            for k, members in groups.items()]
    rows.sort(key=lambda r: (-r.customers, r.key))
    return RepeatReport(by.value, chosen, min_sample, overall, rows)
