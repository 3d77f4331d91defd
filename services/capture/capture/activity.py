"""Activities: tracking, server-side sources and form submissions, each a lead.activity."""

import uuid
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from capture import forms_repository
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadActivity, LeadSource, PropertyValue, event_time_now

ActivityKind = Literal["page_view", "form_submitted", "content_downloaded", "webinar_registered",
                       "webinar_attended", "email_opened", "email_clicked", "pricing_viewed",
                       "demo_requested", "call_requested", "custom"]


class ActivityIn(BaseModel):
    """One thing a person did, from a server-side source or the embed script."""

    model_config = ConfigDict(extra="forbid")

    kind: ActivityKind
    lead_id: UUID | None = None
    email: str | None = Field(default=None, max_length=320)
    visitor_id: str | None = Field(default=None, min_length=8, max_length=100)
    occurred_at: AwareDatetime | None = None
    url: str | None = Field(default=None, max_length=2000)
    seconds_on_page: int | None = Field(default=None, ge=0, le=86_400)
    name: str | None = Field(default=None, max_length=200, description="custom activity name")
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=50)
    source: LeadSource = LeadSource(channel="tracking")

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


def _properties(activity: ActivityIn) -> dict[str, PropertyValue]:
    properties = dict(activity.properties)
    if activity.seconds_on_page is not None:
        properties["seconds_on_page"] = activity.seconds_on_page
    if activity.name:
        properties["name"] = activity.name
    return properties


async def record_activity(uow: UnitOfWork, activity: ActivityIn, lead_id: UUID | None
                          ) -> ActivityAccepted:
    """Store an activity; publish lead.activity now if the person is known, else on identify."""
    if lead_id is None and activity.visitor_id:
        lead_id = await forms_repository.visitor_lead(uow.connection, activity.visitor_id)
    return await store_activity(
        uow, kind=activity.kind, lead_id=lead_id, visitor_id=activity.visitor_id,
        occurred_at=activity.occurred_at or event_time_now(), url=activity.url,
        source=activity.source, properties=_properties(activity))


async def store_activity(uow: UnitOfWork, *, kind: str, lead_id: UUID | None,
                         visitor_id: str | None, occurred_at: datetime, url: str | None,
                         source: LeadSource, properties: dict[str, Any]) -> ActivityAccepted:
    """Insert one activity row and, for a known lead, its lead.activity event."""
    activity_id = uuid.uuid4()
    await forms_repository.insert_activity(uow.connection, {
        "id": activity_id, "lead_id": lead_id, "visitor_id": visitor_id, "kind": kind,
        "occurred_at": occurred_at, "url": url, "source": source.model_dump(mode="json"),
        "properties": properties})
    if lead_id is not None:
        uow.publish(LeadActivity(lead_id=lead_id, activity_id=activity_id, kind=kind,
                                 occurred_at=occurred_at, url=url, source=source,
                                 properties=properties))
    return ActivityAccepted(activity_id=activity_id, lead_id=lead_id)


async def identify(uow: UnitOfWork, visitor_id: str, lead_id: UUID) -> int:
    """Attach a visitor's anonymous activities to the lead they turned out to be."""
    rows = await forms_repository.identify_visitor(uow.connection, visitor_id, lead_id,
                                                   event_time_now())
    for row in rows:
        uow.publish(LeadActivity(
            lead_id=lead_id, activity_id=row.id, kind=row.kind, occurred_at=row.occurred_at,
            url=row.url, source=LeadSource.model_validate(row.source),
            properties=row.properties))
    return len(rows)
