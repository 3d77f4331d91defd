"""What happens to leads in nurture, decided for a whole batch at once. No I/O.

Every consumed event (and every reply, bounce, open or unsubscribe nurture hears of itself)
becomes one change about one lead. `plan` folds each lead's changes, in order, over the state
and active enrollments loaded for it, with the sequences held in memory, and returns what to
write: one list per table, so a batch costs the same few statements whatever its size.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from nurture.leads import domain
from nurture.leads.domain import Enrollment, EnrollmentStatus, LeadState
from nurture.sequences.catalog import Catalog
from nurture.sequences.domain import EntryRule, ExitReason, sequences_to_enter

ENGAGEMENT_KINDS = frozenset({"email_opened", "email_clicked", "page_view"})
"""What branches watch (and what wakes a waiting branch)."""
REPLY_KIND = "email_replied"
"""The lead wrote back: sequences that exit on replies stop."""


@dataclass(frozen=True)
class Created:
    """lead.created: keep the contact copy; enter the new-lead sequences of the segment."""

    lead_id: UUID
    at: datetime
    profile: Mapping[str, Any] | None = None
    consent: bool = False
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileUpdated:
    """lead.updated: newer contact details and consent; entries waiting for them happen."""

    lead_id: UUID
    profile: Mapping[str, Any]
    consent: bool
    attributes: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class ConsentChanged:
    """Email-marketing consent given or withdrawn."""

    lead_id: UUID
    granted: bool
    at: datetime


@dataclass(frozen=True)
class Scored:
    """A new score: kept for score branches, and waiting branches decide at once."""

    lead_id: UUID
    score: int
    at: datetime


@dataclass(frozen=True)
class Exited:
    """The lead left marketing (qualified, handed off, replied...): its sequences stop."""

    lead_id: UUID
    reason: ExitReason
    at: datetime
    # A hand-off's rep ({name, email, team}).
    rep: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Rejected:
    """Sales sent the lead back: the recycle sequences start."""

    lead_id: UUID
    reason: str
    at: datetime


@dataclass(frozen=True)
class DealEnded:
    """A deal closed: sequences that end on it stop, then onboarding or re-engagement."""

    lead_id: UUID
    won: bool
    at: datetime


@dataclass(frozen=True)
class Engaged:
    """An open, click or page view (an engagements row): waiting branches decide at once."""

    lead_id: UUID
    id: UUID
    kind: str
    at: datetime
    url: str | None = None
    message_id: UUID | None = None


@dataclass(frozen=True)
class Erased:
    """Forget the lead; only the fact that it was erased stays."""

    lead_id: UUID
    at: datetime


LeadChange = (Created | ProfileUpdated | ConsentChanged | Scored | Exited | Rejected | DealEnded
              | Engaged | Erased)


@dataclass(frozen=True)
class Plan:
    """What a batch of changes writes."""

    # Each lead's state as loaded, and after its changes.
    before: Mapping[UUID, LeadState] = field(default_factory=dict)
    after: Mapping[UUID, LeadState] = field(default_factory=dict)
    new_enrollments: list[Enrollment] = field(default_factory=list)
    # Loaded (active) enrollments that exited or were woken.
    changed_enrollments: list[Enrollment] = field(default_factory=list)
    engagements: list[Engaged] = field(default_factory=list)
    # (address, unsubscribed | bounced), in order: the address stays suppressed for every lead.
    suppressions: list[tuple[str, ExitReason]] = field(default_factory=list)
    # Leads whose enrollments, messages and engagements are deleted (before the rest is written).
    erased: list[UUID] = field(default_factory=list)

    @property
    def changed_states(self) -> list[LeadState]:
        """The lead states to store."""
        return [state for lead_id, state in self.after.items()
                if state != self.before.get(lead_id)]


class _Lead:
    """One lead while its changes are folded: its state and enrollments (loaded and new)."""

    def __init__(self, state: LeadState, active: Sequence[Enrollment], catalog: Catalog,
                 now: datetime) -> None:
        self.state = state
        self.runs = list(active)
        self.catalog = catalog
        self.now = now
        self.engagements: list[Engaged] = []
        self.suppressions: list[tuple[str, ExitReason]] = []
        self.erased = False

    def apply(self, change: LeadChange) -> None:
        match change:
            case Created():
                self._created(change)
            case ProfileUpdated(profile=profile, consent=consent, attributes=attributes, at=at):
                self.state = domain.record_profile(self.state, profile, consent, attributes, at)
                self._enroll_pending()
            case ConsentChanged(granted=granted, at=at):
                self.state = domain.record_consent(self.state, granted, at)
            case Scored(score=score, at=at):
                self.state = domain.record_score(self.state, score, at)
                self._wake()
            case Exited(reason=reason, at=at, rep=rep):
                self._exit(reason, at, rep)
            case Rejected(reason=reason, at=at):
                rejected = domain.record_rejection(self.state, reason, at)
                if rejected != self.state:
                    self.state = rejected
                    self._enroll(EntryRule.lead_rejected)
            case DealEnded(won=won, at=at):
                self._exit(ExitReason.deal_closed, at)
                self._enroll(EntryRule.deal_won if won else EntryRule.deal_lost)
            case Engaged(kind=kind):
                if kind in ENGAGEMENT_KINDS:
                    self.engagements.append(change)
                    self._wake()
            case Erased(at=at):
                self.state = domain.erased(self.state, at)
                self.runs, self.engagements, self.erased = [], [], True

    def _created(self, change: Created) -> None:
        if change.profile is not None:
            self.state = domain.record_profile(self.state, change.profile, change.consent,
                                               change.attributes, change.at)
        self.state, enter = domain.admit_new_lead(self.state, change.at)
        if enter:
            self._enroll(EntryRule.new_unqualified_lead)
        self._enroll_pending()

    def _enroll_pending(self) -> None:
        """Once the profile is known, enter the sequences of the rules that fired before it."""
        self.state, pending = domain.take_pending_entries(self.state)
        for rule in pending:
            self._enroll(rule)

    def _enroll(self, rule: EntryRule) -> None:
        if not domain.should_enroll(self.state, rule):
            return
        if self.state.profile_at is None and rule != EntryRule.new_unqualified_lead:
            # The segment cannot be judged yet: enter when the profile arrives.
            self.state = domain.defer_entry(self.state, rule)
            return
        running = {e.sequence_key for e in self.runs if e.status == EnrollmentStatus.active}
        for sequence in sequences_to_enter(self.catalog.live(rule), rule, self.state.attributes):
            if sequence.key not in running:  # a lead runs a sequence at most once at a time
                self.runs.append(domain.enroll(self.state.lead_id, sequence, self.now))
                running.add(sequence.key)

    def _exit(self, reason: ExitReason, at: datetime,
              rep: Mapping[str, Any] | None = None) -> None:
        if reason in (ExitReason.unsubscribed, ExitReason.bounced) and self.state.email:
            # The address stays suppressed for any other lead record that carries it.
            self.suppressions.append((self.state.email, reason))
        self.state = domain.record_exit_cause(self.state, reason, at, rep)
        stopping = set(domain.enrollments_to_exit(self.runs, reason, self.catalog.exit_rules))
        # exited_at is when nurture stopped mailing, not when the cause happened elsewhere.
        self.runs = [e.model_copy(update={
            "status": EnrollmentStatus.exited, "exit_reason": reason, "exited_at": self.now,
            "next_step_due_at": None}) if e.id in stopping else e for e in self.runs]

    def _wake(self) -> None:
        """Active enrollments standing at a branch become due now, so a branch waiting for an
        open, click, visit or score decides at once. Those in a wait, an entry delay or a send
        put off by its guards are left asleep: woken, the scheduler would only put them back
        to sleep until the same time (every page view of a lead woke them all, and the
        scheduler re-ran each)."""
        self.runs = [e.model_copy(update={"next_step_due_at": self.now})
                     if e.status == EnrollmentStatus.active and e.next_step_due_at is not None
                     and e.next_step_due_at > self.now
                     and self.catalog.at_branch(e.sequence_key, e.sequence_version, e.current_step)
                     else e for e in self.runs]


def lead_ids_of(changes: Iterable[LeadChange]) -> list[UUID]:
    """The leads the changes are about, each once, sorted (the order rows are locked in)."""
    return sorted({c.lead_id for c in changes})


def plan(changes: Iterable[LeadChange], states: Mapping[UUID, LeadState],
         active: Iterable[Enrollment], catalog: Catalog, now: datetime) -> Plan:
    """What `changes` (in order) do to leads in `states` whose active enrollments are `active`.

    Each lead's changes apply in the order given, exactly as one transaction per change
    would, with one `now` for the batch.
    """
    running: dict[UUID, list[Enrollment]] = {}
    for enrollment in active:
        running.setdefault(enrollment.lead_id, []).append(enrollment)
    loaded = {e.id: e for runs in running.values() for e in runs}
    leads: dict[UUID, _Lead] = {}
    for change in changes:
        lead = leads.get(change.lead_id)
        if lead is None:
            state = states.get(change.lead_id) or LeadState(lead_id=change.lead_id)
            lead = leads[change.lead_id] = _Lead(state, running.get(change.lead_id, []),
                                                 catalog, now)
        lead.apply(change)
    result = Plan(before={i: states.get(i) or LeadState(lead_id=i) for i in leads},
                  after={i: lead.state for i, lead in leads.items()})
    for lead_id, lead in leads.items():
        if lead.erased:
            result.erased.append(lead_id)
        for e in lead.runs:
            if e.id not in loaded:
                result.new_enrollments.append(e)
            elif e != loaded[e.id]:
                result.changed_enrollments.append(e)
        result.engagements.extend(lead.engagements)
        result.suppressions.extend(lead.suppressions)
    return result
