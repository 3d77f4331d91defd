"""Nurture's part of a GDPR export: its copy of the lead (consent, unsubscribe), sequences it
ran, every message sent, and every open and click (engagements)."""

from leadloop.export import export_router, rows_about
from nurture.tables import engagements, enrollments, lead_states, messages

router = export_router({
    "lead": rows_about(lead_states),
    "enrollments": rows_about(enrollments, "enrolled_at"),
    "messages": rows_about(messages, "sent_at"),
    "engagements": rows_about(engagements, "occurred_at"),
})
