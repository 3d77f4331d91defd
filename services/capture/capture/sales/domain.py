"""Each lead's owner and qualification state, kept from scoring's and handoff's events, so lead
search can filter on them (`GET /v1/leads?owner=&qualification=`).

Capture owns neither fact: scoring qualifies and disqualifies, handoff assigns, and reps accept
or reject. The projection is their latest word: qualification `mql` (scoring qualified the
lead), `sql` (a rep accepted it), `rejected` (sales sent it back to marketing) or `disqualified`
(a disqualifier matched); owner: the rep holding the lead (none while it waits in the fallback
queue or after a rejection, until handoff routes it again). Events of one lead come from two
topics, so each half keeps the time of the event that set it and only a later event replaces it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias
from uuid import UUID

from leadloop.events.models import (
    LeadAccepted,
    LeadDisqualified,
    LeadHandedOff,
    LeadQualified,
    LeadRejected,
)

SalesEvent: TypeAlias = (LeadQualified | LeadDisqualified | LeadHandedOff | LeadAccepted
                          | LeadRejected)


class Qualification(StrEnum):
    """Where a lead stands between marketing and sales."""

    mql = "mql"
    sql = "sql"
    rejected = "rejected"
    disqualified = "disqualified"


@dataclass(frozen=True)
class SalesState:
    """What a batch says of one lead: its latest owner and qualification, each with the time
    of the event that set it (None: the batch said nothing of it)."""

    lead_id: UUID
    owner_rep_id: UUID | None = None
    owner_at: datetime | None = None
    qualification: Qualification | None = None
    qualification_at: datetime | None = None


def _owner_change(event: SalesEvent) -> tuple[UUID | None, datetime] | None:
    match event:
        case LeadHandedOff():
            return (event.rep.id if event.rep else None), event.handed_off_at
        case LeadAccepted():
            return event.rep_id, event.accepted_at
        case LeadRejected():
            return None, event.rejected_at
    return None


def _qualification_change(event: SalesEvent) -> tuple[Qualification, datetime] | None:
    match event:
        case LeadQualified():
            return Qualification.mql, event.qualified_at
        case LeadDisqualified():
            return Qualification.disqualified, event.disqualified_at
        case LeadAccepted():
            return Qualification.sql, event.accepted_at
        case LeadRejected():
            return Qualification.rejected, event.rejected_at
    return None


def fold(events: Iterable[SalesEvent]) -> list[SalesState]:
    """Each lead's latest owner and qualification in these events (the later event wins; of
    two at the same time, the one consumed last)."""
    states: dict[UUID, SalesState] = {}
    for event in events:
        state = states.get(event.lead_id, SalesState(event.lead_id))
        if (owner := _owner_change(event)) is not None and (
                state.owner_at is None or owner[1] >= state.owner_at):
            state = SalesState(state.lead_id, owner[0], owner[1], state.qualification,
                               state.qualification_at)
        if (qualified := _qualification_change(event)) is not None and (
                state.qualification_at is None or qualified[1] >= state.qualification_at):
            state = SalesState(state.lead_id, state.owner_rep_id, state.owner_at, qualified[0],
                               qualified[1])
        states[event.lead_id] = state
    return list(states.values())
