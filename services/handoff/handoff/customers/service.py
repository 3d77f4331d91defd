"""Handoff's customer use cases: keep each lead's stage and its account's owner, and hand an
existing customer's new interest to its owner (handoff.customers)."""

import logging
from collections.abc import Sequence

from handoff.config import HandoffSettings
from handoff.customers import repository as customer_repository
from handoff.routing import service as routing_service
from leadloop.accounts import account_domain
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    ActivitySummary,
    LeadActivity,
    LeadExpansionQualified,
    LeadQualified,
    LeadStageChanged,
    event_time_now,
)
from leadloop.latest import latest_per_key
from leadloop.lifecycle import is_customer

log = logging.getLogger(__name__)

WON = "leadloop.deal.closed.v1"


async def record_stage_changes(uow: UnitOfWork, changes: Sequence[LeadStageChanged]) -> None:
    """Keep each lead's latest stage. A lead that just won a deal is owned by the rep who held
    it (and so is its account, unless an admin named an owner), and its open assignment
    closes as converted: the next interest it shows makes a new hand-off."""
    latest = latest_per_key(changes, key=lambda c: c.lead_id, at=lambda c: c.changed_at)
    await customer_repository.save_stages(
        uow, {lead_id: (c.stage, c.changed_at) for lead_id, c in latest.items()})
    won_at = {c.lead_id: c.changed_at for c in changes
              if c.cause == WON and not c.reset and is_customer(c.stage)}
    if not won_at:
        return
    winners = await customer_repository.winners(uow, sorted(won_at))
    await customer_repository.set_owners(uow, {lead: rep for lead, rep, _email in winners})
    # An account is owned by the rep of its latest win.
    wins = [(domain, rep_id, won_at[lead_id]) for lead_id, rep_id, email in winners
            if (domain := account_domain(email)) is not None]
    latest_wins = latest_per_key(wins, key=lambda win: win[0], at=lambda win: win[2])
    accounts = {domain: (rep_id, at) for domain, rep_id, at in latest_wins.values()}
    targets = await customer_repository.accounts_of(uow, accounts)
    # A domain an admin mapped onto another account counts for that account.
    def account_of(domain: str) -> str:
        target = targets.get(domain)
        return target.alias_of if target is not None and target.alias_of else domain

    await customer_repository.record_won_accounts(uow, {
        account_of(d): owner for d, owner in accounts.items()})
    await customer_repository.close_won_assignments(uow, sorted(won_at), event_time_now())


FORM_SUBMITTED = "form_submitted"
"""The activity kind that shows a customer's new interest (the handler takes no other)."""


async def route_customer_interest(uow: UnitOfWork, activities: Sequence[LeadActivity],
                                  settings: HandoffSettings) -> None:
    """A form submission from an existing customer, or from a contact of an account someone
    owns, is handed to the owner (reason existing_customer) when the lead has no open
    assignment; other activities and other leads cost no statement beyond the first query."""
    forms = [a for a in activities if a.kind == FORM_SUBMITTED]
    if not forms:
        return
    copies = await customer_repository.lead_copies(uow, list(dict.fromkeys(
        a.lead_id for a in forms)))
    if not copies:
        return
    standing = await routing_service.customer_contexts(
        uow, {lead_id: copy.email for lead_id, copy in copies.items()})
    interest: list[LeadQualified] = []
    for activity in forms:
        held = copies.get(activity.lead_id)
        if held is None or not standing[activity.lead_id].existing_customer:
            continue
        context = held.context
        earlier = context.get("recent_activities") or []
        now_seen = ActivitySummary(kind=activity.kind, occurred_at=activity.occurred_at,
                                   url=activity.url).model_dump(mode="json")
        interest.append(LeadQualified.model_validate({
            **context, "lead_id": activity.lead_id, "source": activity.source.model_dump(),
            "recent_activities": [now_seen, *earlier][:10]}))
    if interest:
        log.info("%d existing customer(s) showed new interest", len(interest))
        await routing_service.route_qualified_leads(uow, interest, settings)


async def route_expansion(uow: UnitOfWork, events: Sequence[LeadExpansionQualified],
                          settings: HandoffSettings) -> None:
    """Customers whose expansion score reached its threshold are routed like a qualification:
    to the account owner or the rep who won the last deal (existing_customer), under the
    customer SLA; a lead with an open assignment or erased is skipped as any is."""
    qualified = [LeadQualified.model_validate(
        event.model_dump(exclude={"customer_since", "repeat_probability"})
        | {"win_probability": event.repeat_probability}) for event in events]
    log.info("%d customer(s) reached their expansion score", len(qualified))
    await routing_service.route_qualified_leads(uow, qualified, settings)
