"""Handoff's HTTP request and response models."""

from datetime import datetime
from typing import Any
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.domain import AssignmentStatus
from leadloop.events.models import RejectionReason

TEAM_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def _normalized_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


def _printable(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here as a 422 rather than fail at the insert.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _clean_name(raw: str) -> str:
    name = " ".join(_printable(raw).split())
    if not name:
        raise ValueError("must not be blank")
    return name


class RepIn(BaseModel):
    """A new rep."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=320)
    team: str = Field(default="default", pattern=TEAM_PATTERN,
                      description="lower-case slug; leads route to the team in the settings")
    capacity: int = Field(ge=1, le=10_000, description="most open leads the rep holds at once")
    weight: int = Field(default=1, ge=1, le=100,
                        description="share of the team's leads, relative to the other reps")
    active: bool = True

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _normalized_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _clean_name(value)


class RepPatch(BaseModel):
    """Changes to a rep; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, pattern=TEAM_PATTERN)
    capacity: int | None = Field(default=None, ge=1, le=10_000)
    weight: int | None = Field(default=None, ge=1, le=100)
    active: bool | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else _normalized_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_name(value)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Every field of a rep is required: an explicit null cannot mean "clear it".
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep it")
        return value

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent."""
        return self.model_dump(exclude_unset=True)


class RepOut(BaseModel):
    """A rep and how many open leads it holds."""

    id: UUID
    name: str
    email: str
    team: str
    capacity: int
    weight: int
    active: bool
    open_assignments: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> "RepOut":
        """From a repository row."""
        return cls.model_validate(row._asdict())


class RepList(BaseModel):
    """Reps in rotation order."""

    reps: list[RepOut]


class RejectIn(BaseModel):
    """Why the rep rejects the lead."""

    model_config = ConfigDict(extra="forbid")

    reason_code: RejectionReason
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value)


class ContactIn(BaseModel):
    """How the rep touched the lead."""

    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(default=None, min_length=1, max_length=50,
                                description="email, phone, linkedin, meeting, ...")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value)


class LeadSummary(BaseModel):
    """The lead as a rep's queue shows it."""

    lead_id: UUID
    email: str
    name: str | None
    company: str | None
    score: int
    grade: str
    qualified_at: datetime


class AssignedRep(BaseModel):
    """The rep holding an assignment."""

    id: UUID
    name: str
    email: str


class AssignmentOut(BaseModel):
    """An assignment: who holds the lead, why, and where it stands."""

    id: UUID
    status: AssignmentStatus
    lead: LeadSummary
    rep: AssignedRep | None
    team: str
    routing_rule: str
    routing_reason: str
    handed_off_at: datetime
    sla_deadline: datetime | None
    accepted_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: RejectionReason | None
    rejection_note: str | None
    contacted_at: datetime | None
    contact_channel: str | None

    @classmethod
    def of(cls, row: Any) -> "AssignmentOut":
        """From a repository assignment view row."""
        name = " ".join(part for part in (row.first_name, row.last_name) if part) or None
        rep = (AssignedRep(id=row.rep_id, name=row.rep_name, email=row.rep_email)
               if row.rep_id is not None else None)
        return cls(
            id=row.id, status=row.status, rep=rep, team=row.team,
            lead=LeadSummary(lead_id=row.lead_id, email=row.lead_email, name=name,
                             company=row.company, score=row.score, grade=row.grade,
                             qualified_at=row.qualified_at),
            routing_rule=row.routing_rule, routing_reason=row.routing_reason,
            handed_off_at=row.handed_off_at, sla_deadline=row.sla_deadline,
            accepted_at=row.accepted_at, rejected_at=row.rejected_at,
            rejection_reason=row.rejection_reason, rejection_note=row.rejection_note,
            contacted_at=row.contacted_at, contact_channel=row.contact_channel,
        )


class AssignmentList(BaseModel):
    """Assignments, oldest first."""

    assignments: list[AssignmentOut]
