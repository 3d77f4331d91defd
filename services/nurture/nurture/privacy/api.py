"""Nurture's part of a GDPR export: its copy of the lead (consent, unsubscribe), sequences it
ran, every message sent, and every open and click (engagements)."""

from sqlalchemy import select

from leadloop.export import export_router
from nurture.tables import engagements, enrollments, lead_states, messages

router = export_router({
    "lead": lambda lead_id: select(lead_states).where(lead_states.c.lead_id == lead_id),
    "enrollments": lambda lead_id: select(enrollments)
    .where(enrollments.c.lead_id == lead_id).order_by(enrollments.c.enrolled_at),
    "messages": lambda lead_id: select(messages)
    .where(messages.c.lead_id == lead_id).order_by(messages.c.sent_at),
    "engagements": lambda lead_id: select(engagements)
    .where(engagements.c.lead_id == lead_id).order_by(engagements.c.occurred_at),
})
