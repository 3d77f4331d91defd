"""Recording activities: a batch of them (the group commit of POST /v1/activities and the
tracking beacon), each resolved to its lead by id, email or visitor."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from capture.activities import repository
from capture.activities.repository import Activity
from capture.exceptions import NotFound
from capture.leads import repository as leads_repository
from capture.leads.keys import publish_all
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadActivity, LeadSource, PropertyValue


@dataclass
class ActivityRequest:
    """An activity, validated: who it is about (lead id, normalized email or visitor) and what
    it stores. A client-given id makes it idempotent."""

    kind: str
    occurred_at: datetime
    source: LeadSource
    properties: dict[str, PropertyValue]
    lead_id: UUID | None = None
    email: str | None = None
    visitor_id: str | None = None
    url: str | None = None
    traceparent: str | None = None
    activity_id: UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class RecordedActivity:
    """An activity recorded (or recorded before, for a retry): its id and its lead's."""

    activity_id: UUID
    lead_id: UUID | None


def activity_event(activity: Activity, lead_id: UUID) -> LeadActivity:
    """The lead.activity announcing a stored activity of a known lead."""
    return LeadActivity(lead_id=lead_id, activity_id=activity.id, kind=activity.kind,
                        occurred_at=activity.occurred_at, url=activity.url,
                        source=activity.source, properties=activity.properties)


async def apply_activities(uow: UnitOfWork, items: list[ActivityRequest]
                           ) -> list[RecordedActivity | Exception]:
    """Write a batch of activities: who each is about (by lead id, email or visitor, one
    query each), one insert, and a lead.activity for each new one about a known lead."""
    db = await uow.driver()
    by_email = await leads_repository.lead_ids_by_email(db, sorted({
        i.email for i in items if i.lead_id is None and i.email}))
    existing = await leads_repository.existing_lead_ids(db, sorted({
        i.lead_id for i in items if i.lead_id is not None}))
    visitors = await repository.visitor_leads(db, sorted({
        i.visitor_id for i in items if i.lead_id is None and not i.email and i.visitor_id}))
    results: list[RecordedActivity | Exception] = []
    rows: list[Activity] = []
    for item in items:
        lead_id = item.lead_id
        if lead_id is None and item.email:
            lead_id = by_email.get(item.email)
            if lead_id is None:
                results.append(NotFound("no lead with this email"))
                continue
        elif lead_id is not None and lead_id not in existing:
            results.append(NotFound("no lead with this id"))
            continue
        elif lead_id is None and item.visitor_id:
            lead_id = visitors.get(item.visitor_id)
        rows.append(Activity(item.activity_id, lead_id, item.visitor_id, item.kind,
                             item.occurred_at, item.url, item.source, item.properties))
        results.append(RecordedActivity(activity_id=item.activity_id, lead_id=lead_id))
    inserted = await repository.insert_activities(db, rows)
    # Ids stored before (a retried request): answered as first recorded, published then.
    stored = await repository.activity_leads(db, [r.id for r in rows if r.id not in inserted])
    by_id = {row.id: row for row in rows}
    for n, (item, result) in enumerate(zip(items, results, strict=True)):
        if not isinstance(result, RecordedActivity):
            continue
        if result.activity_id not in inserted:
            results[n] = RecordedActivity(activity_id=result.activity_id,
                                          lead_id=stored.get(result.activity_id))
        elif result.lead_id is not None:
            publish_all(uow, [activity_event(by_id[result.activity_id], result.lead_id)],
                        item.traceparent)
    return results
