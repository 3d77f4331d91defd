"""The funnel's pure rules: stages, conversion math, market facts, touches, erasure. No I/O."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias
from uuid import UUID

from leadloop.events.models import (
    DealClosed,
    DealOpened,
    EventData,
    LeadAccepted,
    LeadActivity,
    LeadCreated,
    LeadHandedOff,
    LeadProfile,
    LeadQualified,
    LeadSource,
)

# --- the funnel ----------------------------------------------------------------------------


class Stage(StrEnum):
    """A funnel stage, in funnel order."""

    lead = "lead"
    mql = "mql"
    handed_off = "handed_off"
    accepted = "accepted"
    opportunity = "opportunity"
    won = "won"
    lost = "lost"


FUNNEL_ORDER: tuple[Stage, ...] = tuple(Stage)

# Each step of the path, then both ends of an opportunity: won and lost are siblings, not steps.
CONVERSIONS: tuple[tuple[Stage, Stage], ...] = (
    (Stage.lead, Stage.mql),
    (Stage.mql, Stage.handed_off),
    (Stage.handed_off, Stage.accepted),
    (Stage.accepted, Stage.opportunity),
    (Stage.opportunity, Stage.won),
    (Stage.opportunity, Stage.lost),
)


def stage_column(stage: Stage) -> str:
    """The read model's column holding the first time a lead reached `stage`."""
    return f"{stage.value}_at"


def stages_reached(event: EventData) -> dict[Stage, datetime]:
    """The stages an event shows its lead reached, and when. Empty for other events."""
    match event:
        case LeadCreated():
            return {Stage.lead: event.created_at}
        case LeadQualified():
            return {Stage.mql: event.qualified_at}
        case LeadHandedOff():
            return {Stage.handed_off: event.handed_off_at}
        case LeadAccepted():
            return {Stage.accepted: event.accepted_at}
        case DealOpened():
            return {Stage.opportunity: event.opened_at}
        case DealClosed():
            # A deal recorded straight as won or lost was an opportunity too; when its open is
            # known, keeping the earliest time keeps the open's.
            outcome = Stage.won if event.outcome == "won" else Stage.lost
            return {Stage.opportunity: event.closed_at, outcome: event.closed_at}
        case _:
            return {}


# (label, smallest size in the band); the last band is open-ended.
COMPANY_SIZE_BANDS: tuple[tuple[str, int], ...] = (
    ("1-10", 0), ("11-50", 11), ("51-200", 51), ("201-500", 201), ("501-1000", 501),
    ("1001-5000", 1001), ("5001+", 5001),
)


def company_size_band(size: int | None) -> str | None:
    """The band a head count falls in, e.g. 120 -> '51-200'; None when unknown. Outcomes keeps
    the band, not the count: the band is the segment, and it is all a report needs."""
    if size is None:
        return None
    label = COMPANY_SIZE_BANDS[0][0]
    for name, low in COMPANY_SIZE_BANDS:
        if size >= low:
            label = name
    return label


def market_facts(profile: LeadProfile, at: datetime) -> dict[str, Any]:
    """The market attributes of a lead's profile, with the time they were true. Only what
    describes a market: never email, name, phone, company name or website."""
    return {"country": profile.country, "region": profile.region,
            "company_size_band": company_size_band(profile.company_size),
            "industry": profile.industry, "properties": dict(profile.properties),
            "profile_at": at}


# --- the touch log -------------------------------------------------------------------------


def _has_source(source: LeadSource) -> bool:
    return any((source.campaign, source.utm_source, source.utm_medium, source.utm_campaign))


def touch_of(event: EventData) -> dict[str, Any] | None:
    """The touch-log row an event adds: the lead's creating form post, or an activity that is a
    form submission or carries a source. None for anything else."""
    match event:
        case LeadCreated():
            touch_id, kind, at = f"created:{event.lead_id}", "created", event.created_at
        case LeadActivity() if event.kind == "form_submitted" or _has_source(event.source):
            touch_id, kind, at = str(event.activity_id), event.kind, event.occurred_at
        case _:
            return None
    source = event.source
    return {"touch_id": touch_id, "lead_id": event.lead_id, "occurred_at": at, "kind": kind,
            "channel": source.channel, "campaign": source.campaign,
            "utm_source": source.utm_source, "utm_medium": source.utm_medium,
            "utm_campaign": source.utm_campaign}


FunnelRow: TypeAlias = dict[str, object]
"""A lead's funnel_leads row, by column name."""

# What an erased lead's anonymous funnel row keeps: when it reached each stage, and the fields
# that describe marketing rather than the person. utm_term and utm_content are free text (search
# terms, personalized links) that may name the person, so they go.
ANONYMOUS_FIELDS: tuple[str, ...] = (
    *(stage_column(stage) for stage in FUNNEL_ORDER),
    "rejected_at", "rejection_reason", "not_converted_at", "not_converted_reason",
    "channel", "campaign", "utm_source", "utm_medium",
    "utm_campaign", "form_id", "first_contacted_at", "rep_id", "rep_name", "rep_at", "score",
    "scored_at",
    # Market attributes describe a market, not a person; custom properties are free-form (a
    # property may name or identify the person), so they go.
    "country", "region", "company_size_band", "industry", "profile_at",
)


def anonymous_copy(row: Mapping[str, object], anonymous_id: UUID) -> dict[str, Any] | None:
    """The anonymous funnel row that keeps an erased lead in the counts; None when the lead had
    reached no stage yet (nothing to count)."""
    if all(row.get(stage_column(stage)) is None for stage in FUNNEL_ORDER) \
            and row.get("rejected_at") is None:
        return None
    return {"lead_id": anonymous_id, "anonymous": True,
            **{name: row.get(name) for name in ANONYMOUS_FIELDS}}


@dataclass(frozen=True, slots=True)
class StageCount:
    """How many leads reached a stage."""

    stage: Stage
    count: int


@dataclass(frozen=True, slots=True)
class Conversion:
    """The share of leads that reached `from_stage` and then also `to_stage`."""

    from_stage: Stage
    to_stage: Stage
    rate: float | None  # None when no lead reached `from_stage`: there is nothing to divide


@dataclass(frozen=True, slots=True)
class FunnelReport:
    """Counts per stage in funnel order, and the conversion between stages."""

    stages: list[StageCount]
    conversion: list[Conversion]
    not_converted: int = 0  # closed by sales or an integration as not converted (lead.closed)


def conversion_rate(reached_both: int, reached_from: int) -> float | None:
    """Of the leads that reached a stage, the share that reached the next one too.

    Counting only leads that reached both keeps the rate within 0..1 even when a lead skips a
    stage (a deal opened for a lead no rep accepted).
    """
    if reached_from <= 0:
        return None
    return round(reached_both / reached_from, 4)


def funnel_report(stage_counts: Mapping[Stage, int],
                  pair_counts: Mapping[tuple[Stage, Stage], int],
                  not_converted: int = 0) -> FunnelReport:
    """The report from per-stage counts, per-conversion counts of leads in both stages, and
    the count of leads closed as not converted."""
    return FunnelReport(
        not_converted=not_converted,
        stages=[StageCount(stage, stage_counts.get(stage, 0)) for stage in FUNNEL_ORDER],
        conversion=[
            Conversion(a, b, conversion_rate(pair_counts.get((a, b), 0), stage_counts.get(a, 0)))
            for a, b in CONVERSIONS
        ],
    )
