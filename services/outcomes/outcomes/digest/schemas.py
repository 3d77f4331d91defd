"""The digest's HTTP request and response models."""

from datetime import datetime
from typing import Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator

from outcomes.digest.domain import Digest
from outcomes.digest.repository import DigestRow, Recipient

Team = Literal["marketing", "sales"]


class DigestOut(BaseModel):
    """One period's digest: when it was due, whether it went out, and its figures."""

    period: str
    schedule: str
    start: datetime
    end: datetime
    status: str = Field(description="scheduled, composed (mail pending), sent, failed, or "
                        "no_recipients (composed; nobody was configured to get it)")
    due_at: datetime = Field(description="when it is (next) due to be composed or sent")
    composed_at: datetime | None
    sent_at: datetime | None
    attempts: int = Field(description="SMTP attempts made")
    delivered: int = Field(description="recipients the mail server accepted it for")
    pending: int = Field(description="recipients still to try")
    refused: int = Field(description="recipients refused for good")
    last_error: str | None
    digest: Digest | None = Field(description="null until composed (and in listings)")

    @classmethod
    def of(cls, row: DigestRow, with_content: bool = True) -> "DigestOut":
        """The API view of a digest row."""
        recipients = row.recipients or {}
        return cls(
            period=row.period, schedule=row.schedule, start=row.period_start,
            end=row.period_end, status=row.status, due_at=row.due_at,
            composed_at=row.composed_at, sent_at=row.sent_at, attempts=row.attempts,
            delivered=len(recipients.get("delivered", [])),
            pending=len(recipients.get("pending", [])),
            refused=len(recipients.get("refused", {})), last_error=row.last_error,
            digest=Digest.model_validate(row.content) if with_content and row.content else None,
        )


class RecipientIn(BaseModel):
    """An address that gets the digest, for one team."""

    model_config = ConfigDict(extra="forbid")

    team: Team
    email: str = Field(min_length=3, max_length=254)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValueError(str(exc)) from exc


class RecipientOut(BaseModel):
    """A digest recipient."""

    team: Team
    email: str
    created_at: datetime

    @classmethod
    def of(cls, row: Recipient) -> "RecipientOut":
        """From a digest_recipients row."""
        return cls(team=row.team, email=row.email, created_at=row.created_at)
