"""Nurture's HTTP request and response models."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from nurture.domain import (
    SEQUENCE_SETTINGS,
    Enrollment,
    EnrollmentStatus,
    EntryRule,
    ExitReason,
    Sequence,
    SequenceStep,
)
from nurture.steps import Channel, GuardPolicy, WebhookChannel


class EnrollmentOut(BaseModel):
    """One enrollment of a lead in a sequence version."""

    enrollment_id: UUID
    sequence_key: str
    sequence_version: int
    status: EnrollmentStatus
    current_step: int
    exit_reason: ExitReason | None
    enrolled_at: datetime
    next_step_due_at: datetime | None
    exited_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, enrollment: Enrollment) -> "EnrollmentOut":
        """The API view of an enrollment."""
        return cls(enrollment_id=enrollment.id, **enrollment.model_dump(
            exclude={"id", "lead_id", "step_started_at", "last_sent_at"}))


class LeadEnrollments(BaseModel):
    """Every enrollment of one lead, oldest first."""

    lead_id: UUID
    enrollments: list[EnrollmentOut]


class SequenceIn(BaseModel):
    """A new version of a sequence (the first one creates it); it becomes the live version."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    entry_rule: EntryRule
    steps: list[SequenceStep] = Field(min_length=1)
    active: bool = True
    segment: dict[str, list[str]] = Field(default_factory=dict)
    entry_delay_days: int = Field(default=0, ge=0, le=365)
    entry_delay_seconds: int = Field(default=0, ge=0, le=3600 * 24 * 365)
    exit_on: list[ExitReason] = Field(default_factory=lambda: list(ExitReason))
    guards: GuardPolicy = GuardPolicy()
    webhooks: dict[Channel, WebhookChannel] = Field(default_factory=dict)

    def as_sequence(self) -> Sequence:
        """The domain sequence (version is assigned when stored)."""
        return Sequence(version=1, **self.model_dump())


class WebhookChannelOut(BaseModel):
    """A channel adapter as the API shows it: the URL, and whether the sequence signs with a
    secret of its own (the secret itself is never returned)."""

    url: str
    own_secret: bool = False

    @model_validator(mode="before")
    @classmethod
    def _hide_secret(cls, value: Any) -> Any:
        if isinstance(value, WebhookChannel):
            value = value.model_dump()
        if isinstance(value, dict) and "secret" in value:
            value = {"url": value.get("url"), "own_secret": bool(value["secret"])}
        return value


class SequenceOut(BaseModel):
    """One version of a sequence."""

    key: str
    version: int
    entry_rule: EntryRule
    active: bool
    steps: list[SequenceStep]
    segment: dict[str, list[str]] = Field(default_factory=dict)
    entry_delay_days: int = 0
    entry_delay_seconds: int = 0
    exit_on: list[ExitReason] = Field(default_factory=lambda: list(ExitReason))
    guards: GuardPolicy = GuardPolicy()
    webhooks: dict[Channel, WebhookChannelOut] = Field(default_factory=dict)
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> "SequenceOut":
        """The API view of a stored sequence version."""
        values = row._asdict()
        settings = {k: v for k, v in values.pop("settings").items() if k in SEQUENCE_SETTINGS}
        return cls.model_validate({**settings, **values})


class SequenceList(BaseModel):
    """Every version of every sequence."""

    sequences: list[SequenceOut]


class MessageOut(BaseModel):
    """One message sent (or refused) to a lead."""

    message_id: UUID
    sequence_key: str
    sequence_version: int
    step: int
    channel: str
    template: str
    status: str
    error: str | None
    sent_at: datetime


class LeadMessages(BaseModel):
    """Every message a lead was sent, oldest first."""

    lead_id: UUID
    messages: list[MessageOut]


class _Inbound(BaseModel):
    """Which lead a provider's report is about: the message it concerns, or the address."""

    model_config = ConfigDict(extra="forbid")

    message_id: UUID | None = Field(
        default=None, description="the X-LeadLoop-Message-Id header, or the Message-ID a reply's "
        "In-Reply-To names (<id@leadloop.local>)")
    email: str | None = Field(default=None, min_length=3, max_length=320,
                              pattern=r"^[^@\s]+@[^@\s]+$")

    @field_validator("message_id", mode="before")
    @classmethod
    def _message_id_header(cls, value: Any) -> Any:
        """A Message-ID as a provider forwards it: <uuid@leadloop.local> is the uuid."""
        if isinstance(value, str) and value.strip().endswith("@leadloop.local>"):
            return value.strip().removeprefix("<").removesuffix("@leadloop.local>")
        return value

    @model_validator(mode="after")
    def _one_address(self) -> "_Inbound":
        if (self.message_id is None) == (self.email is None):
            raise ValueError("give exactly one of message_id or email")
        return self


class ReplyIn(_Inbound):
    """A reply to one of our emails, reported by the mail provider or a sales tool."""

    received_at: AwareDatetime | None = None


class BounceIn(_Inbound):
    """A bounce reported after the message left (a delivery status notification), or a spam
    complaint (a feedback loop report)."""

    kind: Literal["hard", "soft", "complaint"]
    bounced_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=1000)


class InboundAccepted(BaseModel):
    """Which leads the report matched, and whether their sequences were stopped."""

    lead_ids: list[UUID]
    stopped: bool
