"""Sequences as data: when a lead enters one (entry rules), why it leaves (exit reasons), and
one version of a sequence with its steps, segment and policy. Pure, no I/O."""

from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nurture.sequences.steps import (
    BranchStep,
    Channel,
    GuardPolicy,
    SendStep,
    SequenceStep,
    WebhookChannel,
)


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




class SequenceDefinition(BaseModel):
    """A sequence as a marketer writes it: what a version holds but its number (the API's
    SequenceIn takes exactly this; the rules that span fields are Sequence's)."""

    key: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
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


class Sequence(SequenceDefinition):
    """One version of a sequence. Versions are immutable: an edit is a new version, and a
    running enrollment finishes on the version it started with."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)

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
