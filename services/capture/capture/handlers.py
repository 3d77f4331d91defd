"""Capture's event handlers and the HANDLERS registry. Handlers never commit: the runner does.

Capture owns consent, so a withdrawal another service hears of comes back here and is
announced from here (lead.consent_changed): one consent state for every service. It also keeps
each lead's owner and qualification state from scoring's and handoff's events, for lead search
(capture.sales).
"""

from capture.consent.service import ConsentChange, change_consents
from capture.sales.service import record_sales_progress
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Consent,
    LeadAccepted,
    LeadDisqualified,
    LeadHandedOff,
    LeadQualified,
    LeadRejected,
    LeadUnsubscribed,
    event_time_now,
)
from leadloop.handlers import Batch, Handlers

HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""

# What an unsubscribe from a channel withdraws (channels without a consent purpose of their
# own withdraw nothing here).
UNSUBSCRIBE_WITHDRAWS = {"email": "email_marketing"}


@HANDLERS.handles_without_personal_data
async def on_lead_unsubscribed(uow: UnitOfWork, batch: Batch[LeadUnsubscribed]) -> None:
    """A person unsubscribed from nurture's mail (one click): their email marketing consent
    is withdrawn, stored here and announced to every service."""
    await change_consents(uow, [
        ConsentChange(event.lead_id, Consent.model_validate({
            UNSUBSCRIBE_WITHDRAWS[event.channel]: False,
            "source": f"unsubscribe:{event.channel}"}))
        for event in batch.events if event.channel in UNSUBSCRIBE_WITHDRAWS], event_time_now())


@HANDLERS.handles_without_personal_data
async def on_sales_progress(uow: UnitOfWork, batch: Batch[
        LeadQualified | LeadDisqualified | LeadHandedOff | LeadAccepted | LeadRejected]) -> None:
    """Scoring qualified or disqualified a lead, handoff assigned it, or its rep accepted or
    rejected it: the lead's owner and qualification state for lead search (one upsert)."""
    await record_sales_progress(uow, batch.events)
