"""HTTP models of activities: tracking, server-side sources and form submissions, each a
lead.activity."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from capture.leads.domain import refuse_nul
from leadloop.events.models import LeadSource, PropertyValue

ActivityKind = Literal["page_view", "form_submitted", "content_downloaded", "webinar_registered",
                       "webinar_attended", "email_opened", "email_clicked", "pricing_viewed",
                       "demo_requested", "call_requested", "custom"]


class ActivityIn(BaseModel):
    """One thing a person did, from a server-side source or the embed script."""

    model_config = ConfigDict(extra="forbid")

    kind: ActivityKind
    id: UUID | None = Field(default=None, description="your id for this activity: sending it "
                            "again (a retry) records nothing new and gets the first answer")
    lead_id: UUID | None = None
    email: str | None = Field(default=None, max_length=320)
    visitor_id: str | None = Field(default=None, min_length=8, max_length=100)
    occurred_at: AwareDatetime | None = None
    url: str | None = Field(default=None, max_length=2000)
    seconds_on_page: int | None = Field(default=None, ge=0, le=86_400)
    name: str | None = Field(default=None, max_length=200, description="custom activity name")
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=50)
    source: LeadSource = LeadSource(channel="tracking")

    _no_nul = field_validator("*", mode="before")(refuse_nul)  # PostgreSQL stores no NUL

    @model_validator(mode="after")
    def _who(self) -> "ActivityIn":
        if not (self.lead_id or self.email or self.visitor_id):
            raise ValueError("one of lead_id, email or visitor_id is required")
        if self.kind == "custom" and not self.name:
            raise ValueError("a custom activity needs a name")
        return self


class ActivityAccepted(BaseModel):
    """What capture answers for an activity."""

    activity_id: UUID
    lead_id: UUID | None = Field(description="None while the visitor is anonymous")


class ActivitiesAccepted(BaseModel):
    """The answer to an array of activities: each accepted item by index, each refusal."""

    detail: str
    items: list[dict[str, object]] = Field(description="index, activity_id, lead_id")
    errors: list[dict[str, object]] = Field(description="index, field, reason, type")


class ActivityOut(BaseModel):
    """One entry of a lead's activity timeline."""

    activity_id: UUID
    kind: str
    occurred_at: datetime
    url: str | None
    source: LeadSource
    properties: dict[str, PropertyValue]
