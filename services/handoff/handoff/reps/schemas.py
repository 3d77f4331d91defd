"""Handoff's HTTP models of reps: coverage (territories, segments, named accounts), capacity,
weight, working hours and absence."""

import re
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from handoff.assignments.schemas import TEAM_PATTERN, CleanName, clean_name, normalized_email
from leadloop.pagination import Page
from leadloop.schema_types import LocalTime

_TERRITORY = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)
Segment = Literal["smb", "mid-market", "enterprise"]


def _territories(values: list[str]) -> list[str]:
    cleaned = sorted({value.strip().upper() for value in values})
    for value in cleaned:
        if not _TERRITORY.match(value):
            raise ValueError(f"{value!r} is not a country (DE) or country-region (US-CA) code")
    return cleaned


def _domains(values: list[str]) -> list[str]:
    cleaned = sorted({value.strip().lower().removeprefix("www.") for value in values})
    for value in cleaned:
        if not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a domain such as acme.com")
    return cleaned


class WorkingHoursIn(BaseModel):
    """When a rep works, in its own time zone."""

    model_config = ConfigDict(extra="forbid")

    time_zone: str = Field(description="IANA name, e.g. Europe/Berlin")
    start: LocalTime = Field(description="local start, e.g. 09:00")
    end: LocalTime = Field(description="local end, e.g. 17:30 (before start: a night shift)")
    days: list[int] = Field(default=[0, 1, 2, 3, 4], min_length=1, max_length=7,
                            description="weekdays worked, 0 = Monday")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 6 for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _not_empty(self) -> "WorkingHoursIn":
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


def _storable_time(at: datetime) -> bool:
    """Whether `at` converts to UTC within the years the driver and date arithmetic hold."""
    try:
        return _EARLIEST <= at.astimezone(UTC) <= _LATEST
    except OverflowError:
        return False


class _RepCoverage(BaseModel):
    """What a rep covers and when it is away (shared by RepIn and RepPatch)."""

    @field_validator("territories", check_fields=False)
    @classmethod
    def _territories(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _territories(value)

    @field_validator("named_accounts", check_fields=False)
    @classmethod
    def _named_accounts(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _domains(value)

    @field_validator("out_of_office_from", "out_of_office_to", check_fields=False)
    @classmethod
    def _storable(cls, value: datetime | None) -> datetime | None:
        # 9999-12-31T23:59:59-12:00 parses, but is year 10000 in UTC: the driver cannot send it.
        if value is not None and not _storable_time(value):
            raise ValueError(f"must be between {_EARLIEST:%Y-%m-%d} and {_LATEST:%Y-%m-%d} UTC")
        return value

    @model_validator(mode="after")
    def _absence_in_order(self) -> Any:
        start = getattr(self, "out_of_office_from", None)
        end = getattr(self, "out_of_office_to", None)
        if start is not None and end is not None and end <= start:
            raise ValueError("out_of_office_to must be after out_of_office_from")
        return self


class RepIn(_RepCoverage):
    """A new rep."""

    model_config = ConfigDict(extra="forbid")

    name: CleanName = Field(min_length=1, max_length=200)
    email: str = Field(max_length=320)
    team: str = Field(default="default", pattern=TEAM_PATTERN,
                      description="lower-case slug; leads route to the team in the settings")
    capacity: int = Field(ge=1, le=10_000, description="most open leads the rep holds at once")
    weight: int = Field(default=1, ge=1, le=100,
                        description="share of the team's leads, relative to the other reps")
    active: bool = True
    manager_id: UUID | None = Field(default=None, description="the rep SLA breaches escalate to")
    territories: list[str] = Field(default=[], max_length=500,
                                   description="countries (DE) or regions (US-CA); [] = all")
    segments: list[Segment] = Field(default=[], description="company-size bands; [] = all")
    named_accounts: list[str] = Field(default=[], max_length=5000,
                                      description="domains whose leads this rep owns")
    working_hours: WorkingHoursIn | None = Field(default=None, description="null: always")
    out_of_office_from: AwareDatetime | None = None
    out_of_office_to: AwareDatetime | None = None

    def columns(self) -> dict[str, Any]:
        """The rep's column values."""
        values = self.model_dump()
        values["working_hours"] = (self.working_hours.model_dump(mode="json")
                                   if self.working_hours else None)
        return values

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalized_email(value)


_CLEARABLE = frozenset({"manager_id", "working_hours", "out_of_office_from",
                        "out_of_office_to"})


class RepPatch(_RepCoverage):
    """Changes to a rep; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, pattern=TEAM_PATTERN)
    capacity: int | None = Field(default=None, ge=1, le=10_000)
    weight: int | None = Field(default=None, ge=1, le=100)
    active: bool | None = None
    manager_id: UUID | None = None
    territories: list[str] | None = Field(default=None, max_length=500)
    segments: list[Segment] | None = None
    named_accounts: list[str] | None = Field(default=None, max_length=5000)
    working_hours: WorkingHoursIn | None = None
    out_of_office_from: AwareDatetime | None = None
    out_of_office_to: AwareDatetime | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalized_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else clean_name(value)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        # Required fields cannot be cleared; null clears the manager, hours and absence.
        if value is None and info.field_name not in _CLEARABLE:
            raise ValueError("cannot be null; leave the field out to keep it")
        return value

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent."""
        return self.model_dump(mode="json", exclude_unset=True,
                               exclude={"out_of_office_from", "out_of_office_to",
                                        "manager_id"}) | {
            name: getattr(self, name) for name in ("out_of_office_from", "out_of_office_to",
                                                    "manager_id")
            if name in self.model_fields_set}


class RepOut(BaseModel):
    """A rep and how many open leads it holds."""

    # Built from a repository row: attributes it does not declare are not read.
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    email: str
    team: str
    capacity: int
    weight: int
    active: bool
    manager_id: UUID | None
    territories: list[str]
    segments: list[str]
    named_accounts: list[str]
    working_hours: WorkingHoursIn | None
    out_of_office_from: datetime | None
    out_of_office_to: datetime | None
    open_assignments: int
    created_at: datetime
    updated_at: datetime


class RepList(Page[RepOut]):
    """Reps in rotation order (team, then when added), a page at a time."""
