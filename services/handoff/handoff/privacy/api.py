"""Handoff's part of a GDPR export: its copy of the qualified lead, every assignment (reps,
accept/reject/contact, SLA timers), when the lead arrived, and the webhooks sent about it."""

from sqlalchemy import select

from handoff.tables import assignments, lead_arrivals, leads, sla_timers, webhook_deliveries
from leadloop.export import export_router, rows_about

router = export_router({
    "lead": rows_about(leads),
    "assignments": rows_about(assignments, order_by="handed_off_at"),
    # Timers hold no lead id: they are the lead's through its assignments.
    "sla_timers": lambda lead_id: select(sla_timers).join(
        assignments, assignments.c.id == sla_timers.c.assignment_id)
    .where(assignments.c.lead_id == lead_id).order_by(sla_timers.c.due_at),
    "arrival": rows_about(lead_arrivals),
    "webhook_deliveries": rows_about(webhook_deliveries, order_by="created_at"),
})
