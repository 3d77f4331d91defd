"""Outcomes' reports as pure functions over the funnel read model's rows. No I/O.

Every report takes `LeadFacts` (one lead's row of the read model) and answers with plain
dataclasses, so the API, the dashboard and the tests all read the same numbers.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from outcomes.funnel.domain import CONVERSIONS, FUNNEL_ORDER, Stage, conversion_rate

NONE_KEY = "(none)"


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What the read model knows about one lead: when it reached each stage, and its context."""

    lead_id: UUID
    lead_at: datetime | None = None
    mql_at: datetime | None = None
    handed_off_at: datetime | None = None
    accepted_at: datetime | None = None
    opportunity_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    first_contacted_at: datetime | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None
    channel: str | None = None
    campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    rep_name: str | None = None
    score: int | None = None
    country: str | None = None
    region: str | None = None
    company_size_band: str | None = None
    industry: str | None = None
    # The value of the lead property a market breakdown groups by (as text), when it asks.
    property: str | None = None

    def reached(self, stage: Stage) -> datetime | None:
        """When the lead first reached `stage`, or None."""
        at: datetime | None = getattr(self, f"{stage.value}_at")
        return at


FACT_FIELDS: tuple[str, ...] = tuple(name for name in LeadFacts.__dataclass_fields__
                                     if name != "property")


def source_of(lead: LeadFacts) -> str:
    """Where the lead came from: its UTM source, else its channel."""
    return lead.utm_source or lead.channel or NONE_KEY


def campaign_of(lead: LeadFacts) -> str:
    """The lead's campaign: the named campaign, else its UTM campaign."""
    return lead.campaign or lead.utm_campaign or NONE_KEY


# --- grouping ------------------------------------------------------------------------------


class Period(StrEnum):
    """How reports bucket time."""

    day = "day"
    week = "week"
    month = "month"


def period_start(at: datetime, period: Period) -> date:
    """The first day of the day, ISO week (Monday) or month that `at` (UTC) falls in."""
    day = at.date()
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    if period is Period.month:
        return day.replace(day=1)
    return day


def score_band(score: int | None) -> str:
    """The 20-point band a score falls in, e.g. '40-59'; 'unscored' when never scored."""
    if score is None:
        return "unscored"
    if score < 0:
        return "< 0"
    if score >= 100:
        return "100+"
    low = score // 20 * 20
    return f"{low}-{low + 19}"


class GroupBy(StrEnum):
    """The dimensions the funnel can be broken down by."""

    period = "period"
    source = "source"
    campaign = "campaign"
    utm_source = "utm_source"
    utm_medium = "utm_medium"
    utm_campaign = "utm_campaign"
    utm_term = "utm_term"
    utm_content = "utm_content"
    rep = "rep"
    score_band = "score_band"


def group_key(by: GroupBy, period: Period) -> Callable[[LeadFacts], str]:
    """The function that names a lead's group under `by`."""
    match by:
        case GroupBy.period:
            return lambda lead: (period_start(lead.lead_at, period).isoformat()
                                 if lead.lead_at else NONE_KEY)
        case GroupBy.source:
            return source_of
        case GroupBy.campaign:
            return campaign_of
        case GroupBy.rep:
            return lambda lead: lead.rep_name or NONE_KEY
        case GroupBy.score_band:
            return lambda lead: score_band(lead.score)
        case _:
            name = by.value
            return lambda lead: getattr(lead, name) or NONE_KEY


# --- statistics ----------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rate(part: int, whole: int) -> float | None:
    """part / whole to four places; None when there is no whole."""
    return round(part / whole, 4) if whole > 0 else None


@dataclass(frozen=True, slots=True)
class Durations:
    """How long something took, in seconds: how many, median and 90th percentile."""

    count: int
    median_s: float | None
    p90_s: float | None


def durations(seconds: Sequence[float]) -> Durations:
    """Count, median and p90 of some durations."""
    return Durations(len(seconds), quantile(seconds, 0.5), quantile(seconds, 0.9))


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """end - start in seconds, never negative (clocks of different services drift)."""
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


# --- funnel --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageStep:
    """From one stage to the next: conversion and the time it took those who made it."""

    from_stage: Stage
    to_stage: Stage
    rate: float | None
    time: Durations


@dataclass(frozen=True, slots=True)
class FunnelGroup:
    """The funnel of one group of leads."""

    key: str
    counts: dict[str, int]
    steps: list[StageStep]


def funnel_of(key: str, leads: Sequence[LeadFacts]) -> FunnelGroup:
    """Counts per stage, conversion and time in stage of some leads."""
    counts = {s.value: sum(1 for lead in leads if lead.reached(s)) for s in FUNNEL_ORDER}
    steps = []
    for a, b in CONVERSIONS:
        times = [t for lead in leads
                 if (t := seconds_between(lead.reached(a), lead.reached(b))) is not None]
        steps.append(StageStep(a, b, conversion_rate(len(times), counts[a.value]),
                               durations(times)))
    return FunnelGroup(key, counts, steps)


def funnel_breakdown(leads: Iterable[LeadFacts], by: GroupBy | None,
                     period: Period = Period.week) -> list[FunnelGroup]:
    """The funnel of all leads (by None) or of each group under `by`, groups sorted by key."""
    leads = list(leads)
    if by is None:
        return [funnel_of("all", leads)]
    groups: dict[str, list[LeadFacts]] = defaultdict(list)
    key = group_key(by, period)
    for lead in leads:
        groups[key(lead)].append(lead)
    return [funnel_of(k, groups[k]) for k in sorted(groups)]
