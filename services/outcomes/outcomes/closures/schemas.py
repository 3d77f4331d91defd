"""Closures' HTTP request and response models."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from leadloop.events.models import event_time_now
from outcomes.closures.domain import Closure, ClosureReport
from outcomes.deals.domain import MAX_CLOCK_SKEW
from outcomes.reports.window import out_of_range

Reason = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$",
                              description="a reason code, e.g. no_response, chose_competitor, "
                                          "not_interested, no_budget, bad_fit, other")]


class ClosedLeadIn(BaseModel):
    """A lead closed as not converted."""

    model_config = ConfigDict(extra="forbid")

    lead_id: UUID
    reason: Reason
    note: str | None = Field(default=None, max_length=1000, description="free text for people")
    closed_at: AwareDatetime | None = Field(default=None, description="defaults to now")

    @field_validator("closed_at")
    @classmethod
    def _closed_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        problem = out_of_range(value)
        if problem is None and value > event_time_now() + MAX_CLOCK_SKEW:
            problem = "closed_at is in the future"
        if problem:
            raise ValueError(problem)
        return value
    def report(self) -> ClosureReport:
        """The closure as the domain reads it."""
        return ClosureReport(lead_id=self.lead_id, reason=self.reason, note=self.note,
                             closed_at=self.closed_at)


class ClosedLeadOut(BaseModel):
    """A lead's closure as outcomes stores it."""

    closure_id: UUID
    lead_id: UUID
    reason: str
    note: str | None
    closed_at: datetime

    @classmethod
    def of(cls, closure: Closure) -> "ClosedLeadOut":
        """The API view of a closure."""
        return cls(closure_id=closure.closure_id, lead_id=closure.lead_id,
                   reason=closure.reason, note=closure.note, closed_at=closure.closed_at)
