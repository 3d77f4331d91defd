"""Handoff's HTTP request and response models."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from handoff.assignments.domain import AssignmentStatus
from leadloop.events.models import RejectionReason

TEAM_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def normalized_email(raw: str) -> str:
    """The address lower-cased and normalized; ValueError names what is wrong."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


def printable(value: str) -> str:
    """The text, refused (ValueError) when it holds NUL."""
    # PostgreSQL text cannot hold NUL; refuse it here as a 422 rather than fail at the insert.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def printable_or_none(value: str | None) -> str | None:
    """`printable` for an optional text: None stays None."""
    return None if value is None else printable(value)


def clean_name(raw: str) -> str:
    """The name with its whitespace collapsed; blank is refused."""
    name = " ".join(printable(raw).split())
    if not name:
        raise ValueError("must not be blank")
    return name


CleanName = Annotated[str, AfterValidator(clean_name)]
"""A name as people type it: whitespace collapsed, blank and NUL refused (422)."""


class RejectIn(BaseModel):
    """Why the rep rejects the lead."""

    model_config = ConfigDict(extra="forbid")

    reason_code: RejectionReason
    note: str | None = Field(default=None, max_length=2000, validate_default=True,
                             description="free text; required when reason_code is other")

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None, info: ValidationInfo) -> str | None:
        note = None if value is None else printable(value).strip() or None
        # "other" says nothing by itself: marketing needs the rep's words to act on it.
        if note is None and info.data.get("reason_code") is RejectionReason.other:
            raise ValueError("a note is required when reason_code is other")
        return note


class ContactIn(BaseModel):
    """How the rep touched the lead."""

    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(default=None, min_length=1, max_length=50,
                                description="email, phone, linkedin, meeting, ...")

    _channel = field_validator("channel")(printable_or_none)


class ConvertIn(BaseModel):
    """The opportunity the accepted lead became."""

    model_config = ConfigDict(extra="forbid")

    opportunity_ref: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="the opportunity's id in the sales tool")

    _ref = field_validator("opportunity_ref")(printable_or_none)


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
    rule_id: UUID | None = None
    rule_version: int | None = None
    breaches: int = Field(default=0, description="accept deadlines this lead missed before")
    reminded_at: datetime | None = None
    converted_at: datetime | None = None
    opportunity_ref: str | None = None
    assigned_by: str | None = Field(default=None, description="the manager, for a manual one")
    accepted_by: str | None = None
    rejected_by: str | None = None
    contacted_by: str | None = None

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
            rule_id=row.rule_id, rule_version=row.rule_version, breaches=row.breaches,
            reminded_at=row.reminded_at, converted_at=row.converted_at,
            opportunity_ref=row.opportunity_ref, assigned_by=row.assigned_by,
            accepted_by=row.accepted_by, rejected_by=row.rejected_by,
            contacted_by=row.contacted_by,
        )


class AssignIn(BaseModel):
    """A manager's assignment: to whom, and why (recorded in the hand-off's routing reason)."""

    model_config = ConfigDict(extra="forbid")

    rep_id: UUID
    reason: str = Field(min_length=1, max_length=500,
                        description="e.g. 'speaks German', 'owner back from leave'")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return clean_name(value)


class ViewerOut(BaseModel):
    """Who a key acts as."""

    name: str = Field(description="recorded as who did each action")
    rep_id: UUID | None = Field(description="the rep the key is bound to; null: an integration")
    manager: bool
    sees_all: bool = Field(description="true for keys bound to no rep")
    teams: list[str] = Field(description="teams whose queues it manages")
    reports: list[UUID]
