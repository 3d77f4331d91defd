"""What nurture knows of a lead (built from events in any order) and its enrollments: who may
enter, what each milestone records, which enrollments exit. Pure, no I/O."""

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from nurture.leads.zones import country_zone
from nurture.sequences.domain import EntryRule, ExitReason, Sequence


class EnrollmentStatus(StrEnum):
    """Where an enrollment is: running, finished its last step, or stopped early."""

    active = "active"
    completed = "completed"
    exited = "exited"



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
    def local_zone(self) -> str | None:
        """The time zone its sends and waits are read in: its own, else its country's (see
        leads.zones); None: the service's default."""
        country = self.attributes.get("country")
        return self.time_zone or country_zone(country if isinstance(country, str) else None)

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
    raise AssertionError(f"no enrollment rule for {rule}")  # pragma: no cover


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


class Message(BaseModel):
    """One message nurture sent a lead, or refused or skipped (`error` says why)."""

    model_config = ConfigDict(frozen=True)

    message_id: UUID
    sequence_key: str
    sequence_version: int
    step: int
    channel: str
    template: str
    status: str
    error: str | None
    sent_at: datetime


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
