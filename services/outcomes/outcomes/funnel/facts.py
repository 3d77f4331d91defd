"""What a batch of events tells about each lead's funnel row, folded in pure code. No I/O.

A lead's events arrive in any order, repeat, and come from several topics, so every column of the
funnel row has a merge rule that gives the same row whatever the order:

- the first time a lead reached a stage (and was rejected, and was first contacted): earliest;
- score, rep, market attributes and account: those of the latest event by its own clock
  (`scored_at`, `rep_at`, `profile_at`), the later-applied one on a tie; the clocks themselves:
  latest;
- the rejection reason: that of the earliest rejection, the first-applied one on a tie; the
  reason a lead was closed as not converted likewise;
- source fields: the first value seen.

`fold_funnel` applies the rules to a batch, one lead's events in order, into one row of facts per
lead; the repository's upsert applies the same rules once more between that row and the stored
one (NULL meaning "the batch told nothing"), so a batch ends where its events applied one at a
time would.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from leadloop.accounts import account_domain
from leadloop.events.models import (
    DealClosed,
    EventData,
    LeadClosed,
    LeadContacted,
    LeadCreated,
    LeadHandedOff,
    LeadMerged,
    LeadProfile,
    LeadRejected,
    LeadScored,
    LeadUpdated,
)
from outcomes.funnel.domain import (
    FUNNEL_ORDER,
    market_facts,
    stage_column,
    stages_reached,
    touch_of,
)

FIRST_TIME_COLUMNS: frozenset[str] = frozenset(
    {stage_column(stage) for stage in FUNNEL_ORDER}
    | {"rejected_at", "first_contacted_at", "not_converted_at"})
# Reasons that go with the earliest time of a side exit (rejected, closed as not converted).
REASON_COLUMNS: Mapping[str, str] = {"rejection_reason": "rejected_at",
                                     "not_converted_reason": "not_converted_at"}
# Columns that follow the latest event by time (a rescore, a reassignment), with their clock.
LATEST_COLUMNS: Mapping[str, str] = {
    "score": "scored_at", "rep_id": "rep_at", "rep_name": "rep_at",
    # the account handoff named (its aliases applied) goes with the hand-off
    "handed_off_account": "rep_at",
    # market attributes and the account follow the latest profile (lead.created, lead.updated,
    # lead.merged: the survivor's merged profile)
    **dict.fromkeys(("country", "region", "company_size_band", "industry", "properties",
                     "account"), "profile_at")}
CLOCK_COLUMNS: frozenset[str] = frozenset(LATEST_COLUMNS.values())
_GROUPS: dict[str, tuple[str, ...]] = {
    clock: tuple(c for c, k in LATEST_COLUMNS.items() if k == clock) for clock in CLOCK_COLUMNS}
SOURCE_COLUMNS: tuple[str, ...] = ("channel", "campaign", "utm_source", "utm_medium",
                                   "utm_campaign", "utm_term", "utm_content", "form_id")


def profile_facts(profile: LeadProfile, at: datetime) -> dict[str, Any]:
    """What a lead's profile tells the row: its market attributes and its account (the company
    domain of its email, None for free mail), with the time they were true."""
    return market_facts(profile, at) | {"account": account_domain(profile.email)}


def facts_of(event: EventData) -> dict[str, Any]:
    """The funnel-row columns one event tells, by column name; empty for an event that tells
    nothing about the row (a page view)."""
    values: dict[str, Any] = {stage_column(s): at for s, at in stages_reached(event).items()}
    match event:
        case LeadScored():
            values |= {"score": event.score, "scored_at": event.scored_at}
        case LeadHandedOff():
            values |= {"rep_id": event.rep.id if event.rep else None,
                       "rep_name": event.rep.name if event.rep else None,
                       "rep_at": event.handed_off_at,
                       "handed_off_account": event.account}
        case LeadContacted():
            values["first_contacted_at"] = event.contacted_at
        case LeadCreated():
            source = event.source
            values |= {"channel": source.channel, "campaign": source.campaign,
                       "utm_source": source.utm_source, "utm_medium": source.utm_medium,
                       "utm_campaign": source.utm_campaign, "utm_term": source.utm_term,
                       "utm_content": source.utm_content, "form_id": event.form_id}
            values |= profile_facts(event.profile, event.created_at)
        case LeadUpdated():
            values |= profile_facts(event.profile, event.updated_at)
        case LeadMerged():
            values |= profile_facts(event.profile, event.merged_at)
        case LeadRejected():
            values |= {"rejected_at": event.rejected_at,
                       "rejection_reason": event.reason_code.value}
        case LeadClosed():
            values |= {"not_converted_at": event.closed_at,
                       "not_converted_reason": event.reason}
    return values


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def merge_facts(row: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Merge what one event tells (`new`) into a lead's folded facts (`row`), in place."""
    for clock, columns in _GROUPS.items():
        at = new.get(clock)
        if at is not None and (row.get(clock) is None or at >= row[clock]):
            row |= {name: new.get(name) for name in columns}
            row[clock] = at
    for reason, clock in REASON_COLUMNS.items():
        at = new.get(clock)
        if at is not None and (row.get(clock) is None or at < row[clock]):
            row[reason] = new.get(reason)
    for name, value in new.items():
        if value is None or name in LATEST_COLUMNS or name in CLOCK_COLUMNS \
                or name in REASON_COLUMNS:
            continue
        if name in FIRST_TIME_COLUMNS:
            row[name] = _earliest(row.get(name), value)
        elif row.get(name) is None:
            row[name] = value


@dataclass(slots=True)
class FunnelPlan:
    """What a batch writes: one row of facts per lead, new touches, newly closed deals."""

    rows: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    touches: list[dict[str, Any]] = field(default_factory=list)
    closed_deals: list[dict[str, Any]] = field(default_factory=list)


def fold_funnel(events: Iterable[EventData]) -> FunnelPlan:
    """Fold a batch's events (in consumption order) into what it writes. A lead gets a row only
    when one of its events tells something about it; a touch or a deal seen twice is kept once
    (the first), as the table keeps the first insert."""
    plan = FunnelPlan()
    touch_ids: set[str] = set()
    deal_ids: set[UUID] = set()
    for event in events:
        lead_id: UUID = event.lead_id  # type: ignore[attr-defined]
        if values := facts_of(event):
            merge_facts(plan.rows.setdefault(lead_id, {}), values)
        if (touch := touch_of(event)) is not None and touch["touch_id"] not in touch_ids:
            touch_ids.add(touch["touch_id"])
            plan.touches.append(touch)
        if isinstance(event, DealClosed) and event.deal_id not in deal_ids:
            deal_ids.add(event.deal_id)
            plan.closed_deals.append({
                "deal_id": event.deal_id, "lead_id": lead_id, "outcome": event.outcome,
                "amount_minor": event.amount_minor, "currency": event.currency,
                "closed_at": event.closed_at})
    return plan
