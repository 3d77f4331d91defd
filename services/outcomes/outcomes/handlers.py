"""Outcomes' batch handlers and the HANDLERS registry. Handlers never commit: the runner does.

Outcomes consumes every topic; the funnel is built only from these events, including its own
deal events, so it reads the same whether a deal came over HTTP or is replayed. A rebuild applies
the history through these same handlers (outcomes.rebuild.service).
"""

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadActivity, LeadErased, LeadHandedOff, LeadQualified
from leadloop.handlers import Batch, Handlers
from outcomes.funnel import service as funnel
from outcomes.lifecycle import service as lifecycle
from outcomes.timeline import service as timeline
from outcomes.timeline.domain import LeadEvent

HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""


@HANDLERS.handles
async def on_lead_events(uow: UnitOfWork, batch: Batch[LeadEvent]) -> None:
    """Fold the batch into the read model: stages reached, score, rep, first contact, rejection
    (when and why), touches, closed deals, market attributes (country, region, company-size
    band, industry, properties), which lead a merged duplicate counts as (lead.merged,
    lead.unmerged), and an entry per event on its lead's timeline; then move the leads'
    lifecycle stages (outcomes.lifecycle.domain). One statement per table for the whole batch."""
    await funnel.apply_funnel_events(uow, batch.events)
    await timeline.apply_timeline(uow, batch.items)
    await lifecycle.apply_lifecycle(uow, batch.items)


@HANDLERS.handles
async def on_lead_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
    """Anonymize each lead, with every lead merged with it (counts stay, nothing points back at
    the person) and delete its timeline. Rare, so one lead at a time, in lead-id order (the
    order the funnel upsert locks rows in)."""
    for lead_id in sorted(batch.lead_ids):
        await funnel.erase_lead(uow, lead_id)


# The profile these carry is read from lead.created, lead.updated and lead.merged instead; of a
# hand-off outcomes keeps the rep's id, name and team. They need no key and no decryption.
HANDLERS.reads_no_personal_data(LeadQualified, LeadHandedOff)
# An activity's timeline entry shows its URL and source (referrer and landing page included);
# its properties are not kept, so they are not decrypted.
HANDLERS.reads_personal_fields(LeadActivity, "url", "referrer", "landing_page")
