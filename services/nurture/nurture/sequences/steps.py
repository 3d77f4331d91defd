"""Sequence steps and per-sequence policy (guards, segment, exits). Pure data, no I/O."""

from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from leadloop.schema_types import LocalTime

TEMPLATE_NAME = r"^[a-z0-9][a-z0-9_.-]*$"


class Channel(StrEnum):
    """How a message reaches the lead: email over SMTP, the rest through webhook adapters."""

    email = "email"
    sms = "sms"
    voice = "voice"
    direct_mail = "direct_mail"
    fax = "fax"


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SendEmailStep(_Step):
    """Send one email template to the lead."""

    kind: Literal["send_email"] = "send_email"
    template: str = Field(min_length=1, max_length=200, pattern=TEMPLATE_NAME)
    # Pinned to the newest version when the sequence is saved without one; steps stored
    # before templates were versioned have none and use the newest.
    template_version: int | None = Field(default=None, ge=1)

    @property
    def channel(self) -> Channel:
        """Always email."""
        return Channel.email


class SendStep(_Step):
    """Send one template through a channel (email, or a webhook adapter for the others)."""

    kind: Literal["send"] = "send"
    channel: Channel
    template: str = Field(min_length=1, max_length=200, pattern=TEMPLATE_NAME)
    template_version: int | None = Field(default=None, ge=1)  # as SendEmailStep's


class Weekday(StrEnum):
    """Days of the week, Monday first (as datetime.weekday() counts)."""

    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


WEEKDAYS = list(Weekday)


class WaitUntil(BaseModel):
    """A local time of day, optionally on one weekday, in the lead's time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: Weekday | None = None
    at: LocalTime = Field(description="local time of day, e.g. 09:30")

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first such local time strictly after `moment`."""
        local = moment.astimezone(zone)
        for days in range(0, 8):
            day = (local + timedelta(days=days)).date()
            if self.weekday is not None and day.weekday() != WEEKDAYS.index(self.weekday):
                continue
            candidate = datetime.combine(day, self.at, tzinfo=zone)
            if candidate > local:
                return candidate.astimezone(moment.tzinfo)
        raise AssertionError("a weekday recurs within 8 days")  # pragma: no cover


class WaitStep(_Step):
    """Wait a duration, or until a weekday/time in the lead's time zone, before the next step."""

    kind: Literal["wait"] = "wait"
    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=24 * 365)
    minutes: int = Field(default=0, ge=0, le=60 * 24 * 365)
    # Second-scale waits make sequences testable end to end; production sequences use days.
    seconds: int = Field(default=0, ge=0, le=3600 * 24 * 365)
    until: WaitUntil | None = None

    @model_validator(mode="after")
    def _positive(self) -> "WaitStep":
        if self.until is not None and self.duration:
            raise ValueError("a wait step waits either a duration or until a time, not both")
        if self.until is None and not self.duration:
            raise ValueError("a wait step must wait at least one hour, minute or second, "
                             "or until a weekday and time")
        return self

    @property
    def duration(self) -> timedelta:
        """How long the lead waits at this step (zero for a wait-until step)."""
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes,
                         seconds=self.seconds)

    def ends_at(self, started_at: datetime, zone: ZoneInfo) -> datetime:
        """When a wait that started at `started_at` is over."""
        if self.until is not None:
            return self.until.next_after(started_at, zone)
        return started_at + self.duration


class BranchCondition(StrEnum):
    """What a branch step watches for."""

    opened = "opened"
    clicked = "clicked"
    visited = "visited"
    score_above = "score_above"


Goto = int | Literal["end"] | None
"""Where a branch goes: a step index, "end" (the sequence completes), or None (next step)."""


class BranchStep(_Step):
    """Go to `then` if the condition happens within the window, else to `otherwise`.

    Opens and clicks count from the enrollment's last send (or its start); the branch waits
    up to `within_*` for them and moves on as soon as one arrives.
    """

    kind: Literal["branch"] = "branch"
    condition: BranchCondition
    within_days: int = Field(default=0, ge=0, le=365)
    within_hours: int = Field(default=0, ge=0, le=24 * 365)
    within_seconds: int = Field(default=0, ge=0, le=3600 * 24 * 365)
    url_contains: str | None = Field(default=None, max_length=500)
    score: int | None = None
    then: Goto = None
    otherwise: Goto = None

    @model_validator(mode="after")
    def _complete(self) -> "BranchStep":
        if self.condition == BranchCondition.score_above and self.score is None:
            raise ValueError("a score_above branch needs a score")
        return self

    @property
    def window(self) -> timedelta:
        """How long the branch waits for its condition."""
        return timedelta(days=self.within_days, hours=self.within_hours,
                         seconds=self.within_seconds)


SequenceStep = Annotated[SendEmailStep | SendStep | WaitStep | BranchStep,
                         Field(discriminator="kind")]
"""One step of a sequence."""

STEPS_ADAPTER: TypeAdapter[list[SequenceStep]] = TypeAdapter(list[SequenceStep])


class QuietHours(BaseModel):
    """Local hours in which nothing is sent (start may be after end: it spans midnight)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: LocalTime = time(21, 0)
    end: LocalTime = time(8, 0)


class GuardPolicy(BaseModel):
    """Frequency caps (counted over every message the lead got) and quiet hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_per_day: int = Field(default=1, ge=1, le=1000)
    max_per_week: int = Field(default=3, ge=1, le=7000)
    # A factory, not a default instance: an object default of a nullable field does not
    # validate in OpenAPI generators (openapi-python-client drops the whole sequences API).
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)


class WebhookChannel(BaseModel):
    """Where a non-email channel's messages go: an HTTPS endpoint that checks our signature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2000)
    # Signs this sequence's requests to the adapter instead of the service-wide webhook secret
    # (LEADLOOP_NURTURE_WEBHOOK_SECRET), e.g. when each provider account has its own. Never
    # shown again after it is stored (see sequences.schemas.WebhookChannelOut).
    secret: str | None = Field(default=None, min_length=16, max_length=200)
