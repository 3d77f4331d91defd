"""Nurture's pure rules: sequence steps, who enters a sequence, which enrollments exit. No I/O."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator


class EntryRule(StrEnum):
    """When a lead enters a sequence."""

    # lead.created for a lead that nobody has qualified, disqualified or handed off.
    new_unqualified_lead = "new_unqualified_lead"


class EnrollmentStatus(StrEnum):
    """Where an enrollment is: running, finished its last step, or stopped early."""

    active = "active"
    completed = "completed"
    exited = "exited"


class ExitReason(StrEnum):
    """Why an enrollment stopped before its last step."""

    qualified = "qualified"
    handed_off = "handed_off"
    disqualified = "disqualified"


# --- sequences -----------------------------------------------------------------------------


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SendEmailStep(_Step):
    """Send one email template to the lead."""

    kind: Literal["send_email"] = "send_email"
    template: str = Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9_.-]*$")


class WaitStep(_Step):
    """Wait before the next step."""

    kind: Literal["wait"] = "wait"
    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=24 * 365)

    @model_validator(mode="after")
    def _positive(self) -> "WaitStep":
        if self.days == 0 and self.hours == 0:
            raise ValueError("a wait step must wait at least one hour")
        return self

    @property
    def duration(self) -> timedelta:
        """How long the lead waits at this step."""
        return timedelta(days=self.days, hours=self.hours)


SequenceStep = Annotated[SendEmailStep | WaitStep, Field(discriminator="kind")]
"""One step of a sequence; new kinds (other channels, branches) join this union."""

STEPS_ADAPTER: TypeAdapter[list[SequenceStep]] = TypeAdapter(list[SequenceStep])


class Sequence(BaseModel):
    """One version of a sequence. Versions are immutable: an edit is a new version, and a
    running enrollment finishes on the version it started with."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: int = Field(ge=1)
    entry_rule: EntryRule
    steps: list[SequenceStep] = Field(min_length=1)
    active: bool = True


def sequences_to_enter(sequences: Iterable[Sequence], rule: EntryRule) -> list[Sequence]:
    """The active sequences a lead enters when `rule` fires: each sequence enrolls on its own."""
    return [s for s in sequences if s.active and s.entry_rule == rule]


# --- what nurture knows about a lead -------------------------------------------------------


def _earliest(current: datetime | None, new: datetime) -> datetime:
    return new if current is None or new < current else current


class LeadState(BaseModel):
    """A lead's life outside nurture, built from events that may arrive in any order.

    Topics are ordered per producer only: lead.qualified (scoring) can be handled before
    lead.created (capture). Each milestone keeps the first time it happened, so replays and
    late events change nothing.
    """

    model_config = ConfigDict(frozen=True)

    lead_id: UUID
    created_at: datetime | None = None
    qualified_at: datetime | None = None
    handed_off_at: datetime | None = None
    disqualified_at: datetime | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None
    erased_at: datetime | None = None

    @property
    def is_erased(self) -> bool:
        """Whether the person asked to be forgotten; nothing about them is kept or sent."""
        return self.erased_at is not None

    @property
    def left_marketing(self) -> bool:
        """Whether sales owns the lead or it is out: no new-lead nurturing then."""
        return (self.qualified_at is not None or self.handed_off_at is not None
                or self.disqualified_at is not None)


_EXIT_MILESTONE = {
    ExitReason.qualified: "qualified_at",
    ExitReason.handed_off: "handed_off_at",
    ExitReason.disqualified: "disqualified_at",
}


def admit_new_lead(state: LeadState, created_at: datetime) -> tuple[LeadState, bool]:
    """The state after lead.created, and whether the lead enters new-lead sequences.

    Only the first lead.created counts, so a replayed event never enrolls a lead twice.
    """
    if state.is_erased:
        return state, False
    first_time = state.created_at is None
    new_state = state.model_copy(update={"created_at": _earliest(state.created_at, created_at)})
    return new_state, first_time and should_enroll(new_state, EntryRule.new_unqualified_lead)


def should_enroll(state: LeadState, rule: EntryRule) -> bool:
    """Whether a lead in `state` may enter a sequence whose entry rule is `rule`."""
    if state.is_erased:
        return False
    match rule:
        case EntryRule.new_unqualified_lead:
            return not state.left_marketing


def record_exit_cause(state: LeadState, reason: ExitReason, at: datetime) -> LeadState:
    """The state after the event behind `reason` (qualified, handed off, disqualified)."""
    if state.is_erased:
        return state
    field = _EXIT_MILESTONE[reason]
    return state.model_copy(update={field: _earliest(getattr(state, field), at)})


def record_rejection(state: LeadState, reason: str, at: datetime) -> LeadState:
    """The state after sales rejected the lead; the latest rejection is the one a recycle
    sequence will act on."""
    if state.is_erased or (state.rejected_at is not None and at <= state.rejected_at):
        return state
    return state.model_copy(update={"rejected_at": at, "rejection_reason": reason})


def erased(state: LeadState, at: datetime) -> LeadState:
    """What is kept after erasure: only that the lead id was erased, so that late or replayed
    events about it never bring it back into a sequence."""
    return LeadState(lead_id=state.lead_id, erased_at=state.erased_at or at)


# --- enrollments ---------------------------------------------------------------------------


class Enrollment(BaseModel):
    """One lead going through one version of one sequence."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    lead_id: UUID
    sequence_key: str
    sequence_version: int
    status: EnrollmentStatus
    current_step: int = Field(ge=0)
    next_step_due_at: datetime | None
    exit_reason: ExitReason | None = None
    enrolled_at: datetime
    exited_at: datetime | None = None
    completed_at: datetime | None = None


def enroll(lead_id: UUID, sequence: Sequence, now: datetime) -> Enrollment:
    """A new enrollment whose first step is due at once."""
    return Enrollment(
        id=uuid.uuid4(), lead_id=lead_id, sequence_key=sequence.key,
        sequence_version=sequence.version, status=EnrollmentStatus.active, current_step=0,
        next_step_due_at=now, enrolled_at=now,
    )


def enrollments_to_exit(enrollments: Iterable[Enrollment], reason: ExitReason) -> list[UUID]:
    """Which enrollments stop for `reason`: every active one, since a lead that sales owns
    (or that is out) must get no more marketing mail. Finished ones stay as they are."""
    # Every reason stops every sequence today; a sequence with its own exit rules (a recycle
    # sequence that survives some of them) decides here on `reason`.
    return [e.id for e in enrollments if e.status == EnrollmentStatus.active]
