"""Breakdowns by market: where the product sells. Pure functions over read-model rows. No I/O.

A market is a group of leads sharing a country, a region, a company-size band, an industry, a
source, or the value of any lead property chosen at query time. Each market gets its funnel,
win rate, revenue and speed to lead, the sample size, and a Wilson interval on its conversion so
a reader can tell a real difference from three lucky leads.
"""

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from outcomes.funnel.domain import Stage
from outcomes.reports.domain import (
    NONE_KEY,
    Durations,
    LeadFacts,
    StageStep,
    durations,
    funnel_of,
    rate,
    seconds_between,
    source_of,
)

# Below this many leads a market's rates are shown but flagged: too few to read much into.
MIN_SAMPLE = 30
# z for a 95% interval.
Z_95 = 1.959964

def property_text(value: Any) -> str | None:
    """A property value as the key of its market: what PostgreSQL's `->>` gives for JSON
    (true, 42, 4.5, text), so grouping in SQL and in Python agree; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


# --- what to group by ----------------------------------------------------------------------


class Dimension(StrEnum):
    """Fixed market dimensions; `property:<name>` is the open-ended one."""

    country = "country"
    region = "region"
    company_size = "company_size"
    industry = "industry"
    source = "source"


PROPERTY_PREFIX = "property:"
_PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class MarketBy:
    """A parsed `by`: a fixed dimension, or a lead property's name."""

    dimension: Dimension | None = None
    property_name: str | None = None

    @property
    def label(self) -> str:
        """As written in the query: country, property:plan, ..."""
        if self.property_name is not None:
            return f"{PROPERTY_PREFIX}{self.property_name}"
        assert self.dimension is not None
        return self.dimension.value


def parse_market_by(value: str) -> MarketBy:
    """`country|region|company_size|industry|source|property:<name>`; ValueError otherwise."""
    if value.startswith(PROPERTY_PREFIX):
        name = value.removeprefix(PROPERTY_PREFIX)
        if not _PROPERTY_NAME.match(name):
            raise ValueError("property name must be 1-64 letters, digits, '_', '.' or '-'")
        return MarketBy(property_name=name)
    try:
        return MarketBy(dimension=Dimension(value))
    except ValueError:
        choices = ", ".join(d.value for d in Dimension)
        raise ValueError(f"must be one of {choices}, or property:<name>") from None


def market_key(by: MarketBy) -> Callable[[LeadFacts], str]:
    """The function that names a lead's market under `by`."""
    if by.property_name is not None:
        return lambda lead: lead.property or NONE_KEY
    match by.dimension:
        case Dimension.region:
            # A region name means little without its country (Georgia, Punjab, ...).
            return lambda lead: (f"{lead.country or NONE_KEY}/{lead.region}" if lead.region
                                 else NONE_KEY)
        case Dimension.company_size:
            return lambda lead: lead.company_size_band or NONE_KEY
        case Dimension.source:
            return source_of
        case Dimension.country:
            return lambda lead: lead.country or NONE_KEY
        case _:
            return lambda lead: lead.industry or NONE_KEY


# --- statistics ----------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None for no trials. Unlike p ± z·se it stays
    within [0, 1] and is honest about small samples (0 of 3 is not "0%, certain")."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


class Signal(StrEnum):
    """How a market's conversion compares with the average of all leads."""

    above = "above"  # its whole interval is above the average
    below = "below"  # its whole interval is below the average
    level = "level"  # the interval contains the average: no evidence of a difference
    none = "none"  # nothing to compare (no leads, or no average)


def signal_of(interval: tuple[float, float] | None, average: float | None) -> Signal:
    """above / below when the interval excludes the average, level when it contains it."""
    if interval is None or average is None:
        return Signal.none
    low, high = interval
    if low > average:
        return Signal.above
    if high < average:
        return Signal.below
    return Signal.level


# --- the breakdown -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadRevenue:
    """A lead's won deals and their revenue per currency."""

    won_deals: int
    revenue_minor: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class MarketConversion:
    """Leads that reached the target stage: rate, 95% Wilson interval, and the comparison."""

    stage: Stage
    reached: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    signal: Signal


@dataclass(frozen=True, slots=True)
class MarketRow:
    """One market: how many leads (n), how far they got, what they won, how fast sales was."""

    key: str
    leads: int
    small_sample: bool
    counts: dict[str, int]
    steps: list[StageStep]
    conversion: MarketConversion
    win_rate: float | None
    won_deals: int
    revenue_minor: dict[str, int]
    to_handoff: Durations
    to_first_contact: Durations


@dataclass(frozen=True, slots=True)
class MarketReport:
    """Every market under one dimension, ranked by conversion, and all leads as the average."""

    by: str
    stage: Stage
    min_sample: int
    overall: MarketRow
    rows: list[MarketRow]


def _row(key: str, leads: Sequence[LeadFacts], revenue: Mapping[UUID, LeadRevenue],
         stage: Stage, average: float | None, min_sample: int) -> MarketRow:
    funnel = funnel_of(key, leads)
    n = funnel.counts[Stage.lead.value]
    reached = funnel.counts[stage.value]
    interval = wilson_interval(reached, n)
    ci_low, ci_high = interval if interval is not None else (None, None)
    won_deals = 0
    money: dict[str, int] = defaultdict(int)
    for lead in leads:
        if (r := revenue.get(lead.lead_id)) is not None:
            won_deals += r.won_deals
            for currency, amount in r.revenue_minor.items():
                money[currency] += amount
    to_handoff = [s for lead in leads
                  if (s := seconds_between(lead.lead_at, lead.handed_off_at)) is not None]
    to_contact = [s for lead in leads if (s := seconds_between(
        lead.handed_off_at, lead.first_contacted_at)) is not None]
    return MarketRow(
        key=key, leads=n, small_sample=n < min_sample, counts=funnel.counts, steps=funnel.steps,
        conversion=MarketConversion(stage, reached, rate(reached, n), ci_low, ci_high,
                                    signal_of(interval, average)),
        win_rate=rate(funnel.counts[Stage.won.value], n), won_deals=won_deals,
        revenue_minor=dict(sorted(money.items())),
        to_handoff=durations(to_handoff), to_first_contact=durations(to_contact),
    )


def _rank(row: MarketRow) -> tuple[int, float, int, str]:
    # Highest conversion first; markets with no leads last; ties by size, then name.
    conversion = row.conversion.rate
    return (conversion is None, -(conversion or 0.0), -row.leads, row.key)


def market_breakdown(leads: Iterable[LeadFacts], revenue: Mapping[UUID, LeadRevenue],
                     by: MarketBy, stage: Stage = Stage.won,
                     min_sample: int = MIN_SAMPLE) -> MarketReport:
    """Each market's funnel, conversion to `stage` (with its interval and how it compares with
    the average of all leads), win rate, revenue and speed to lead; ranked by conversion."""
    leads = list(leads)
    overall = _row("all", leads, revenue, stage, None, min_sample)
    average = overall.conversion.rate
    groups: dict[str, list[LeadFacts]] = defaultdict(list)
    key = market_key(by)
    for lead in leads:
        groups[key(lead)].append(lead)
    rows = [_row(k, members, revenue, stage, average, min_sample)
            for k, members in groups.items()]
    return MarketReport(by.label, stage, min_sample, overall, sorted(rows, key=_rank))
