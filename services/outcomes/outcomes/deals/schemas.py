"""Deals' HTTP request and response models."""

from datetime import datetime
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from leadloop.events.models import event_time_now
from outcomes.deals.domain import (
    Deal,
    DealReport,
    DealStatus,
    closed_at_problem,
    lost_reason_problem,
)
from outcomes.reports.window import out_of_range


class DealIn(BaseModel):
    """A deal as a sales tool reports it; the same external_id again is the same deal."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=255,
                             description="the sales tool's id of the deal")
    lead_id: UUID
    # status comes before lost_reason and closed_at: their validators check against it.
    status: DealStatus
    amount_minor: int = Field(ge=0, le=10**15, description="amount in minor units (cents)")
    currency: str = Field(description="ISO 4217 code, e.g. EUR")
    lost_reason: str | None = Field(default=None, max_length=1000,
                                    description="only for lost deals")
    closed_at: AwareDatetime | None = Field(default=None,
                                            description="won or lost deals; defaults to now")

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("external_id must not be blank")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
            raise ValueError("must be an ISO 4217 code: three upper-case letters, e.g. EUR")
        return value

    @field_validator("lost_reason")
    @classmethod
    def _lost_reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        status = info.data.get("status")
        problem = lost_reason_problem(status, value) if status is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("closed_at")
    @classmethod
    def _closed_at(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        status = info.data.get("status")
        problem = (value is not None and out_of_range(value)) or (
            closed_at_problem(status, value, event_time_now()) if status is not None else None)
        if problem:
            raise ValueError(problem)
        return value

    def report(self) -> DealReport:
        """The sales tool's report as the domain reads it."""
        return DealReport(**self.model_dump())


class DealOut(BaseModel):
    """A deal as outcomes stores it."""

    deal_id: UUID
    external_id: str
    lead_id: UUID
    status: DealStatus
    amount_minor: int
    currency: str
    lost_reason: str | None
    opened_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, deal: Deal) -> "DealOut":
        """The API view of a deal."""
        return cls(deal_id=deal.id, external_id=deal.external_id, lead_id=deal.lead_id,
                   status=deal.status, amount_minor=deal.amount_minor, currency=deal.currency,
                   lost_reason=deal.lost_reason, opened_at=deal.opened_at,
                   closed_at=deal.closed_at)
