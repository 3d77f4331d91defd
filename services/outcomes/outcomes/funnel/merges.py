"""Merged leads in pure code: which lead each one is merged into, the groups that counts as one
lead, and the one row of facts a group counts as. No I/O.

A merge never touches the duplicate's own row of facts: it only sets `merged_into`, and undoing
it clears that again, so an undone merge leaves both rows exactly as if it had never happened.
Reports fold a group's rows into one when they read it (outcomes.funnel.counted does in SQL what
`fold_group` does here), by the rules of outcomes.funnel.facts:

- the first time the lead reached a stage, was rejected, was first contacted: the earliest of the
  group (so the lead was created when the first of them was);
- score, rep, market attributes, account: those of the latest event of the group by its own
  clock, the survivor's on a tie;
- the rejection reason (and the not-converted reason): that of the earliest rejection;
- the source (channel, campaign, UTM fields, form): the survivor's whole source, unless the
  survivor had none; then the source of the earliest-created duplicate that had one. Capture
  keeps the survivor's source, and a CRM keeps the primary record's values; fields are never
  mixed from two sources. The touches of every lead of the group count for it, so first-touch
  attribution sees the earliest touch of either lead.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from leadloop.events.models import EventData, LeadMerged, LeadUnmerged
from leadloop.latest import latest_per_key
from outcomes.funnel.facts import (
    CLOCK_COLUMNS,
    FIRST_TIME_COLUMNS,
    LATEST_COLUMNS,
    REASON_COLUMNS,
    SOURCE_COLUMNS,
)

# Capture refuses to merge a lead that is merged already, but a survivor may be merged on into a
# third lead (a -> b -> c). A longer chain than this is taken as a loop and followed no further.
MAX_CHAIN = 16


@dataclass(frozen=True, slots=True)
class MergeState:
    """A lead's latest merge state: merged into `merged_into` (None: not merged) as of `at`."""

    lead_id: UUID
    merged_into: UUID | None
    at: datetime


def merge_state_of(event: EventData) -> MergeState | None:
    """The merge state an event sets on its duplicate; None for any other event."""
    match event:
        case LeadMerged() if event.merged_lead_id != event.lead_id:
            return MergeState(event.merged_lead_id, event.lead_id, event.merged_at)
        case LeadUnmerged():
            return MergeState(event.restored_lead_id, None, event.unmerged_at)
    return None


def merge_states(events: Iterable[EventData]) -> list[MergeState]:
    """Each duplicate's latest merge state in a batch, in lead-id order. The latest by the
    event's own clock wins (the later-applied one on a tie), as the stored state does: a replay
    that meets a merge and its undoing in another order ends in the same state."""
    states = (state for state in map(merge_state_of, events) if state is not None)
    latest = latest_per_key(states, key=lambda state: state.lead_id, at=lambda state: state.at)
    return [latest[lead_id] for lead_id in sorted(latest)]


def survivor_of(links: Mapping[UUID, UUID], lead_id: UUID) -> UUID:
    """The lead `lead_id` counts as: followed along `links` (lead -> merged into) to its end."""
    for _ in range(MAX_CHAIN):
        if lead_id not in links:
            break
        lead_id = links[lead_id]
    return lead_id


def merge_group(links: Mapping[UUID, UUID], lead_id: UUID) -> list[UUID]:
    """Every lead that counts as one with `lead_id` (its survivor and everything merged into
    that), in lead-id order."""
    survivor = survivor_of(links, lead_id)
    return sorted({survivor, lead_id}
                  | {lead for lead in links if survivor_of(links, lead) == survivor})


def _has_source(row: Mapping[str, Any]) -> bool:
    return any(row.get(name) is not None for name in SOURCE_COLUMNS)


def _first(rows: Sequence[Mapping[str, Any]], key: str, latest: bool) -> Mapping[str, Any] | None:
    """The row with the latest (or earliest) `key`, the first of `rows` on a tie."""
    told = [row for row in rows if row.get(key) is not None]
    if not told:
        return None
    best = max(row[key] for row in told) if latest else min(row[key] for row in told)
    return next(row for row in told if row[key] == best)


def fold_group(survivor_id: UUID, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The facts a group of merged leads' rows counts as, under the survivor's id."""
    survivor = [row for row in rows if row["lead_id"] == survivor_id]
    duplicates = sorted((row for row in rows if row["lead_id"] != survivor_id),
                        key=lambda r: (r.get("lead_at") is None, r.get("lead_at"), r["lead_id"]))
    ordered = survivor + duplicates
    folded: dict[str, Any] = {"lead_id": survivor_id}
    for name in FIRST_TIME_COLUMNS:
        folded[name] = min((row[name] for row in ordered if row.get(name) is not None),
                           default=None)
    for clock in CLOCK_COLUMNS:
        chosen = _first(ordered, clock, latest=True) or {}
        folded[clock] = chosen.get(clock)
        folded |= {name: chosen.get(name) for name, c in LATEST_COLUMNS.items() if c == clock}
    for reason, clock in REASON_COLUMNS.items():
        folded[reason] = (_first(ordered, clock, latest=False) or {}).get(reason)
    source = next((row for row in ordered if _has_source(row)), {})
    folded |= {name: source.get(name) for name in SOURCE_COLUMNS}
    return folded
