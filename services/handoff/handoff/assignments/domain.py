"""Handoff's pure rules: weighted round-robin routing and the assignment lifecycle. No I/O."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from handoff.exceptions import TransitionNotAllowed

ROUND_ROBIN_RULE = "round-robin"
FALLBACK_QUEUE_RULE = "fallback-queue"


class AssignmentStatus(StrEnum):
    """Where an assignment stands."""

    queued = "queued"  # in the fallback queue: nobody could take it when it arrived
    assigned = "assigned"  # handed to a rep, waiting to be accepted
    accepted = "accepted"  # the rep took it (sales-accepted lead)
    rejected = "rejected"  # the rep turned it down; closed
    converted = "converted"  # the rep turned it into an opportunity; closed
    reassigned = "reassigned"  # the lead moved on (accept SLA lapsed, or left the queue); closed


OPEN_STATUSES = frozenset({AssignmentStatus.queued, AssignmentStatus.assigned,
                           AssignmentStatus.accepted})
"""A lead has at most one assignment in these statuses (a unique partial index holds it)."""

HELD_BY_REP = frozenset({AssignmentStatus.assigned, AssignmentStatus.accepted})
"""The statuses that count against a rep's capacity."""


# --- routing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepCandidate:
    """A rep of the pool being routed, with how many leads it holds right now."""

    id: UUID
    name: str
    weight: int
    capacity: int
    open_assignments: int
    active: bool = True
    out_of_office: bool = False
    off_hours: bool = False  # outside its working hours (when the rule respects them)

    @property
    def at_capacity(self) -> bool:
        """Whether the rep already holds as many open leads as it may."""
        return self.open_assignments >= self.capacity

    @property
    def available(self) -> bool:
        """Whether the rep can take one more lead now."""
        return (self.active and not self.out_of_office and not self.off_hours
                and not self.at_capacity)


@dataclass(frozen=True, slots=True)
class RoundRobinCursor:
    """Durable state of one pool's weighted round-robin: each rep's current credit."""

    credits: Mapping[UUID, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, int]) -> "RoundRobinCursor":
        """The cursor as stored (rep ids as strings)."""
        return cls({UUID(rep_id): int(credit) for rep_id, credit in data.items()})

    def to_json(self) -> dict[str, int]:
        """The cursor as it is stored."""
        return {str(rep_id): credit for rep_id, credit in sorted(self.credits.items())}


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Who gets the lead (None: the fallback queue), by which rule, why, and the next cursor."""

    rep_id: UUID | None
    rule: str
    reason: str
    cursor: RoundRobinCursor


def route_round_robin(team: str, reps: Sequence[RepCandidate],
                      cursor: RoundRobinCursor) -> RoutingDecision:
    """The next available rep of `team` by smooth weighted round-robin, else the fallback queue.

    `reps` are every rep of the team in rotation order. Smooth weighted round-robin (as nginx
    does it): each available rep earns its weight in credit, the richest wins and pays back what
    the round handed out. Each rep gets leads in proportion to its weight, interleaved rather
    than in bursts (weights 2:1 give A, B, A). Skipped reps (inactive, at capacity) earn nothing
    while skipped, so they do not come back owed a burst of leads. Ties go to the rep earlier in
    rotation order, which makes the choice deterministic for every replica.
    """
    in_pool = {rep.id for rep in reps}
    # Credits of reps that left the team are dropped; inactive reps keep theirs for their return.
    credits = {rep_id: c for rep_id, c in cursor.credits.items() if rep_id in in_pool}
    available = [rep for rep in reps if rep.available]
    if not available:
        return RoutingDecision(None, FALLBACK_QUEUE_RULE, _nobody_fits_reason(team, reps),
                               RoundRobinCursor(credits))
    round_total = sum(rep.weight for rep in available)
    for rep in available:
        credits[rep.id] = credits.get(rep.id, 0) + rep.weight
    chosen = max(available, key=lambda rep: credits[rep.id])  # max keeps the first of equals
    credits[chosen.id] -= round_total
    skipped = _skip_summary(reps)
    reason = (f"round-robin in team '{team}': next of {len(available)} available reps "
              f"(weight {chosen.weight} of {round_total})")
    if skipped:
        reason += f"; skipped {skipped}"
    return RoutingDecision(chosen.id, ROUND_ROBIN_RULE, reason, RoundRobinCursor(credits))


def _skip_summary(reps: Sequence[RepCandidate]) -> str:
    """E.g. "2 at capacity, 1 inactive"; empty when nobody is skipped."""
    inactive = sum(1 for rep in reps if not rep.active)
    away = sum(1 for rep in reps if rep.active and rep.out_of_office)
    off = sum(1 for rep in reps if rep.active and not rep.out_of_office and rep.off_hours)
    full = sum(1 for rep in reps if rep.active and not rep.out_of_office and not rep.off_hours
               and rep.at_capacity)
    parts = []
    if full:
        parts.append(f"{full} at capacity")
    if away:
        parts.append(f"{away} out of office")
    if off:
        parts.append(f"{off} outside working hours")
    if inactive:
        parts.append(f"{inactive} inactive")
    return ", ".join(parts)


def _nobody_fits_reason(team: str, reps: Sequence[RepCandidate]) -> str:
    if not reps:
        return f"team '{team}' has no reps; waiting in the fallback queue"
    return (f"no rep in team '{team}' can take a lead ({_skip_summary(reps)}); "
            "waiting in the fallback queue")


# --- the assignment lifecycle --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssignmentState:
    """What the lifecycle rules look at and change."""

    status: AssignmentStatus
    rep_id: UUID | None
    accepted_at: datetime | None = None
    rejected_at: datetime | None = None
    contacted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """The state after an action; `changed` is False when the action had already happened."""

    state: AssignmentState
    changed: bool


def accept(state: AssignmentState, at: datetime) -> Transition:
    """The rep takes the lead. Accepting twice is a no-op, so a retried request is harmless."""
    if state.status is AssignmentStatus.accepted:
        return Transition(state, changed=False)
    if state.status is not AssignmentStatus.assigned:
        raise TransitionNotAllowed(_refusal("accept", state))
    return Transition(replace(state, status=AssignmentStatus.accepted, accepted_at=at), True)


def reject(state: AssignmentState, at: datetime) -> Transition:
    """The rep turns the lead down, before or after accepting it; the assignment closes."""
    if state.status not in HELD_BY_REP:
        raise TransitionNotAllowed(_refusal("reject", state))
    return Transition(replace(state, status=AssignmentStatus.rejected, rejected_at=at), True)


def record_contact(state: AssignmentState, at: datetime) -> Transition:
    """The rep touched the lead; only the first touch changes anything (speed-to-lead)."""
    if state.status not in HELD_BY_REP:
        raise TransitionNotAllowed(_refusal("record contact on", state))
    if state.contacted_at is not None:
        return Transition(state, changed=False)
    return Transition(replace(state, contacted_at=at), changed=True)


def convert(state: AssignmentState, at: datetime) -> Transition:
    """The accepted lead became an opportunity; converting twice is a no-op."""
    if state.status is AssignmentStatus.converted:
        return Transition(state, changed=False)
    if state.status is not AssignmentStatus.accepted:
        raise TransitionNotAllowed(_refusal("convert", state) + "; accept it first"
                                   if state.status is AssignmentStatus.assigned
                                   else _refusal("convert", state))
    return Transition(replace(state, status=AssignmentStatus.converted), changed=True)


def _refusal(action: str, state: AssignmentState) -> str:
    if state.status is AssignmentStatus.queued:
        return f"cannot {action} an assignment in the fallback queue: no rep holds it"
    return f"cannot {action} an assignment that is {state.status.value}"
