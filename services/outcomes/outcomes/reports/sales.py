"""Reports on what sales does with leads: speed to lead, score calibration, rejections.
Pure functions over the read model's rows, like reports.py. No I/O."""

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from outcomes.reports.domain import (
    NONE_KEY,
    Durations,
    LeadFacts,
    Period,
    durations,
    period_start,
    rate,
    score_band,
    seconds_between,
    source_of,
)

# --- speed to lead -------------------------------------------------------------------------

# (label, lower bound in seconds, upper bound exclusive); the response-time buckets.
RESPONSE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("< 5 min", 0, 300),
    ("5-30 min", 300, 1800),
    ("30-60 min", 1800, 3600),
    ("1-24 h", 3600, 86400),
    ("> 24 h", 86400, math.inf),
)


def response_bucket(seconds: float) -> str:
    """The response-time bucket a duration falls in."""
    for label, low, high in RESPONSE_BUCKETS:
        if low <= seconds < high:
            return label
    raise ValueError(f"negative duration {seconds}")


@dataclass(frozen=True, slots=True)
class BucketCount:
    """Leads in one response-time bucket, and how many of them were won."""

    bucket: str
    leads: int
    won: int
    win_rate: float | None


@dataclass(frozen=True, slots=True)
class SpeedToLead:
    """How fast leads reach sales and sales answers, and what speed is worth."""

    to_handoff: Durations
    to_handoff_histogram: list[BucketCount]
    to_first_contact: Durations
    to_first_contact_histogram: list[BucketCount]
    never_contacted: int


def _histogram(pairs: Sequence[tuple[float, bool]]) -> list[BucketCount]:
    leads = Counter(response_bucket(s) for s, _ in pairs)
    won = Counter(response_bucket(s) for s, w in pairs if w)
    return [BucketCount(label, leads[label], won[label], rate(won[label], leads[label]))
            for label, _, _ in RESPONSE_BUCKETS]


def speed_to_lead(leads: Iterable[LeadFacts]) -> SpeedToLead:
    """Created -> handed off and handed off -> first contact, and win rate per response bucket."""
    handoff: list[tuple[float, bool]] = []
    contact: list[tuple[float, bool]] = []
    never = 0
    for lead in leads:
        won = lead.won_at is not None
        if (s := seconds_between(lead.lead_at, lead.handed_off_at)) is not None:
            handoff.append((s, won))
        if (s := seconds_between(lead.handed_off_at, lead.first_contacted_at)) is not None:
            contact.append((s, won))
        elif lead.handed_off_at is not None:
            never += 1
    return SpeedToLead(
        to_handoff=durations([s for s, _ in handoff]), to_handoff_histogram=_histogram(handoff),
        to_first_contact=durations([s for s, _ in contact]),
        to_first_contact_histogram=_histogram(contact), never_contacted=never,
    )


# --- score calibration ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """Leads of one kind, their opportunities and wins."""

    key: str
    leads: int
    opportunities: int
    won: int
    win_rate: float | None


@dataclass(frozen=True, slots=True)
class ScoreCalibration:
    """Does a higher score mean more wins, and do MQLs win more than the rest?"""

    by_band: list[OutcomeRow]
    by_mql: list[OutcomeRow]


def _outcome_rows(groups: dict[str, list[LeadFacts]], order: Sequence[str]) -> list[OutcomeRow]:
    rows = []
    for key in order:
        members = groups.get(key, [])
        won = sum(1 for lead in members if lead.won_at)
        rows.append(OutcomeRow(key, len(members),
                               sum(1 for lead in members if lead.opportunity_at), won,
                               rate(won, len(members))))
    return rows


def _band_order(band: str) -> tuple[int, int]:
    if band == "unscored":
        return (0, 0)
    if band == "< 0":
        return (1, 0)
    return (2, int(band.split("-")[0].rstrip("+")))


def score_calibration(leads: Iterable[LeadFacts]) -> ScoreCalibration:
    """Win rate per score band (the lead's latest score) and for MQLs vs the rest."""
    bands: dict[str, list[LeadFacts]] = defaultdict(list)
    mql: dict[str, list[LeadFacts]] = defaultdict(list)
    for lead in leads:
        bands[score_band(lead.score)].append(lead)
        mql["mql" if lead.mql_at else "not_mql"].append(lead)
    return ScoreCalibration(_outcome_rows(bands, sorted(bands, key=_band_order)),
                            _outcome_rows(mql, ["mql", "not_mql"]))


# --- rejections ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReasonCounts:
    """Rejections per reason code within one group (a period or a source)."""

    key: str
    total: int
    reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class RejectionReport:
    """Why sales rejects leads: overall, over time, and by source."""

    total: int
    reasons: dict[str, int]
    by_period: list[ReasonCounts]
    by_source: list[ReasonCounts]


def rejection_report(leads: Iterable[LeadFacts], period: Period = Period.week) -> RejectionReport:
    """Reason codes of rejected leads, per period of rejection and per source."""
    rejected = [lead for lead in leads if lead.rejected_at and lead.rejection_reason]

    def counted(key: Callable[[LeadFacts], str]) -> list[ReasonCounts]:
        groups: dict[str, Counter[str]] = defaultdict(Counter)
        for lead in rejected:
            groups[key(lead)][lead.rejection_reason or NONE_KEY] += 1
        return [ReasonCounts(k, sum(c.values()), dict(sorted(c.items())))
                for k, c in sorted(groups.items())]

    reasons = Counter(lead.rejection_reason or NONE_KEY for lead in rejected)
    return RejectionReport(
        total=len(rejected), reasons=dict(sorted(reasons.items())),
        by_period=counted(lambda lead: period_start(lead.rejected_at, period).isoformat()
                          if lead.rejected_at else NONE_KEY),
        by_source=counted(source_of),
    )
