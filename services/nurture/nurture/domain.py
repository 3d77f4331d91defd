"""Nurture's pure rules: sequences, who enters them, which enrollments exit. No I/O."""

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nurture.steps import (
    STEPS_ADAPTER,
    BranchStep,
    Channel,
    GuardPolicy,
    SendEmailStep,
    SendStep,
    SequenceStep,
    WaitStep,
    WebhookChannel,
)

__all__ = ["STEPS_ADAPTER", "SendEmailStep", "SendStep", "SequenceStep", "WaitStep"]


class EntryRule(StrEnum):
    """When a lead enters a sequence."""

    # lead.created for a lead that nobody has qualified, disqualified or handed off.
    new_unqualified_lead = "new_unqualified_lead"
    # lead.rejected: sales sent the lead back; a recycle sequence picks it up.
    lead_rejected = "lead_rejected"
    # deal.closed won: customer onboarding / repeat purchase.
    deal_won = "deal_won"
    # deal.closed lost: re-engage (usually after an entry delay of N days).
    deal_lost = "deal_lost"


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
    replied = "replied"
    unsubscribed = "unsubscribed"
    deal_closed = "deal_closed"
    # deal.opened: sales opened a (new) opportunity; a customer's onboarding or cross-sell
    # has done its job.
    deal_opened = "deal_opened"
    bounced = "bounced"
    # Merged into another lead by an admin: that lead's sequences go on, this one's stop.
    merged = "merged"


# A lead sales is working (qualified, handed off) or who asked us to stop (unsubscribed) or
# whose address is dead (bounced) never gets marketing mail, whatever a sequence's exit_on says.
ALWAYS_EXIT_ON = (ExitReason.qualified, ExitReason.handed_off, ExitReason.unsubscribed,
                  ExitReason.bounced)
# A customer's sequences (entered on a won deal: onboarding, review request, cross-sell) are not
# marketing to a prospect: a hand-off to the customer's owner or a new qualification does not
# stop them. They stop on a new deal (opened or closed), a reply, an unsubscribe or a dead
# address by default.
CUSTOMER_ALWAYS_EXIT_ON = (ExitReason.unsubscribed, ExitReason.bounced)
CUSTOMER_EXIT_ON = (ExitReason.deal_opened, ExitReason.deal_closed, ExitReason.replied,
                    ExitReason.unsubscribed, ExitReason.bounced, ExitReason.merged)


# --- sequences -----------------------------------------------------------------------------


class Sequence(BaseModel):
    """One version of a sequence. Versions are immutable: an edit is a new version, and a
    running enrollment finishes on the version it started with."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: int = Field(ge=1)
    entry_rule: EntryRule
    steps: list[SequenceStep] = Field(min_length=1)
    active: bool = True
    # Who enters on a new lead: attribute -> accepted values (all must match); empty = everyone.
    segment: dict[str, list[str]] = Field(default_factory=dict)
    # Days (or seconds, for tests) after the entry event before the first step is due.
    entry_delay_days: int = Field(default=0, ge=0, le=365)
    entry_delay_seconds: int = Field(default=0, ge=0, le=3600 * 24 * 365)
    exit_on: list[ExitReason] = Field(default_factory=lambda: list(ExitReason))
    guards: GuardPolicy = GuardPolicy()
    webhooks: dict[Channel, WebhookChannel] = Field(default_factory=dict)

    @field_validator("exit_on")
    @classmethod
    def _sales_always_stops(cls, exit_on: list[ExitReason],
                            info: ValidationInfo) -> list[ExitReason]:
        """exit_on may add reasons, never drop ALWAYS_EXIT_ON (added if missing); a
        customer's sequence (deal_won) never drops CUSTOMER_ALWAYS_EXIT_ON."""
        always = CUSTOMER_ALWAYS_EXIT_ON if info.data.get("entry_rule") == EntryRule.deal_won \
            else ALWAYS_EXIT_ON
        return [*dict.fromkeys([*exit_on, *always])]

    @model_validator(mode="after")
    def _customer_exits_by_default(self) -> "Sequence":
        """A customer's sequence that names no exits takes CUSTOMER_EXIT_ON."""
        if self.entry_rule == EntryRule.deal_won and "exit_on" not in self.model_fields_set:
            object.__setattr__(self, "exit_on", list(CUSTOMER_EXIT_ON))  # frozen: set once
        return self

    @model_validator(mode="after")
    def _consistent(self) -> "Sequence":
        for index, step in enumerate(self.steps):
            if isinstance(step, BranchStep):
                for target in (step.then, step.otherwise):
                    if isinstance(target, int) and not index < target <= len(self.steps):
                        raise ValueError(f"step {index}: a branch jumps forward, to a step "
                                         f"after it (got {target})")
            if isinstance(step, SendStep) and step.channel != Channel.email \
                    and step.channel not in self.webhooks:
                raise ValueError(f"step {index}: channel {step.channel.value} needs a webhook")
        return self

    @property
    def settings(self) -> dict[str, Any]:
        """What is stored next to the steps (segment, delay, exits, guards, webhooks)."""
        return self.model_dump(mode="json", include=SEQUENCE_SETTINGS)

    @property
    def entry_delay(self) -> timedelta:
        """How long after the entry event the first step is due."""
        return timedelta(days=self.entry_delay_days, seconds=self.entry_delay_seconds)

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a lead with `attributes` is in this sequence's segment."""
        for name, accepted in self.segment.items():
            value = attributes.get(name)
            if value is None or str(value).casefold() not in {a.casefold() for a in accepted}:
                return False
        return True


SEQUENCE_SETTINGS = {"segment", "entry_delay_days", "entry_delay_seconds", "exit_on", "guards",
                     "webhooks"}


def sequences_to_enter(sequences: Iterable[Sequence], rule: EntryRule,
                       attributes: Mapping[str, Any] | None = None) -> list[Sequence]:
    """The active sequences a lead enters when `rule` fires: each sequence enrolls on its own,
    if the lead is in its segment."""
    return [s for s in sequences if s.active and s.entry_rule == rule
            and s.matches(attributes or {})]


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
    replied_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    deal_closed_at: datetime | None = None
    deal_opened_at: datetime | None = None
    bounced_at: datetime | None = None
    merged_at: datetime | None = None
    # The local copy of what sending needs, from lead.created / lead.updated.
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    time_zone: str | None = None
    # {street, city, postal_code, region, country}: where direct mail goes.
    postal_address: dict[str, Any] | None = None
    # The rep the lead was handed to ({name, email, team}), for templates that name them.
    rep: dict[str, Any] | None = None
    email_consent: bool = False
    consent_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    profile_at: datetime | None = None
    score: int | None = None
    scored_at: datetime | None = None
    # Entry rules that fired before the lead's profile arrived (topics are not ordered with
    # each other, and a lagging lead-created topic is normal under load): the segment cannot be
    # judged yet, so the lead enters when lead.created or lead.updated brings the profile.
    pending_entries: tuple[EntryRule, ...] = ()

    @property
    def is_erased(self) -> bool:
        """Whether the person asked to be forgotten; nothing about them is kept or sent."""
        return self.erased_at is not None

    def template_lead(self) -> dict[str, Any]:
        """What templates see as `lead`: contact details, firmographics, custom properties."""
        found = self.attributes
        return {"first_name": self.first_name, "last_name": self.last_name,
                "email": self.email, "company": self.company, "phone": self.phone,
                "time_zone": self.time_zone, "postal_address": self.postal_address,
                **{name: found.get(name) for name in ("job_title", "country", "region",
                                                      "industry")},
                "properties": dict(found)}

    @property
    def left_marketing(self) -> bool:
        """Whether sales owns the lead or it is out: no new-lead nurturing then."""
        return any(getattr(self, field) is not None for field in _EXIT_MILESTONE.values())


_EXIT_MILESTONE = {
    ExitReason.qualified: "qualified_at",
    ExitReason.handed_off: "handed_off_at",
    ExitReason.disqualified: "disqualified_at",
    ExitReason.replied: "replied_at",
    ExitReason.unsubscribed: "unsubscribed_at",
    ExitReason.deal_closed: "deal_closed_at",
    ExitReason.deal_opened: "deal_opened_at",
    ExitReason.bounced: "bounced_at",
    ExitReason.merged: "merged_at",
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
        case EntryRule.lead_rejected | EntryRule.deal_won | EntryRule.deal_lost:
            # Sales gave the lead back or a deal closed: marketing may talk to them again,
            # unless they asked us to stop.
            return state.unsubscribed_at is None and state.bounced_at is None


def defer_entry(state: LeadState, rule: EntryRule) -> LeadState:
    """The state remembering that `rule` fired before nurture knew the lead's profile."""
    if state.is_erased or rule in state.pending_entries:
        return state
    return state.model_copy(update={"pending_entries": (*state.pending_entries, rule)})


def take_pending_entries(state: LeadState) -> tuple[LeadState, tuple[EntryRule, ...]]:
    """Once the profile is known: the state without its waiting entry rules, and those rules
    (to enroll by now). Before that, the state as it is and no rules."""
    if state.profile_at is None or not state.pending_entries:
        return state, ()
    return state.model_copy(update={"pending_entries": ()}), state.pending_entries


def record_profile(state: LeadState, profile: Mapping[str, Any], consent: bool,
                   attributes: Mapping[str, Any], at: datetime) -> LeadState:
    """The state with the lead's newest profile (what sending and segments need); an older
    profile than the one kept is ignored."""
    if state.is_erased or (state.profile_at is not None and at < state.profile_at):
        return state
    kept = {name: profile.get(name) for name in
            ("email", "first_name", "last_name", "company", "phone", "time_zone",
             "postal_address")}
    newer = state.model_copy(update={**kept, "attributes": {**state.attributes, **attributes},
                                     "profile_at": at})
    return record_consent(newer, consent, at)


def record_consent(state: LeadState, granted: bool, at: datetime) -> LeadState:
    """The state with the newest email-marketing consent (lead.created/updated snapshots and
    lead.consent_changed alike); an older statement than the one kept is ignored."""
    if state.is_erased or (state.consent_at is not None and at < state.consent_at):
        return state
    return state.model_copy(update={"email_consent": granted, "consent_at": at})


def record_score(state: LeadState, score: int, at: datetime) -> LeadState:
    """The state with the lead's latest score (branches on score read it)."""
    if state.is_erased or (state.scored_at is not None and at < state.scored_at):
        return state
    return state.model_copy(update={"score": score, "scored_at": at})


def record_exit_cause(state: LeadState, reason: ExitReason, at: datetime,
                      rep: Mapping[str, Any] | None = None) -> LeadState:
    """The state after the event behind `reason` (qualified, handed off, unsubscribed...);
    a hand-off names the rep, kept for templates (a recycle email can name them)."""
    if state.is_erased:
        return state
    field = _EXIT_MILESTONE[reason]
    update: dict[str, Any] = {field: _earliest(getattr(state, field), at)}
    if rep is not None:
        update["rep"] = dict(rep)
    return state.model_copy(update=update)


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


def address_key(email: str) -> str:
    """How the suppression list names an address: SHA-256 of it trimmed and lower-cased."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


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
    step_started_at: datetime | None = None
    last_sent_at: datetime | None = None


def enroll(lead_id: UUID, sequence: Sequence, now: datetime) -> Enrollment:
    """A new enrollment whose first step is due at once (or after the entry delay)."""
    start = now + sequence.entry_delay
    return Enrollment(
        id=uuid.uuid4(), lead_id=lead_id, sequence_key=sequence.key,
        sequence_version=sequence.version, status=EnrollmentStatus.active, current_step=0,
        next_step_due_at=start, enrolled_at=now, step_started_at=start,
    )


def enrollments_to_exit(enrollments: Iterable[Enrollment], reason: ExitReason,
                        exit_on: Mapping[tuple[str, int], Iterable[ExitReason]] | None = None,
                        ) -> list[UUID]:
    """Which enrollments stop for `reason`: every active one whose sequence version exits on
    it (all do unless `exit_on` says otherwise). Finished ones stay as they are."""
    exits = exit_on or {}
    return [e.id for e in enrollments if e.status == EnrollmentStatus.active
            and reason in exits.get((e.sequence_key, e.sequence_version), list(ExitReason))]


def exit_due(state: LeadState, sequence: Sequence, enrolled_at: datetime) -> ExitReason | None:
    """The exit condition that holds for an enrollment right now, checked again before each
    send. A new-lead sequence exits on any milestone; one entered later (recycle, after a
    deal) only on milestones reached since it started."""
    for reason in sequence.exit_on:  # always holds ALWAYS_EXIT_ON
        happened = getattr(state, _EXIT_MILESTONE[reason])
        if happened is None:
            continue
        if sequence.entry_rule == EntryRule.new_unqualified_lead or happened >= enrolled_at:
            return reason
    return None
