"""The read model's use cases: fold a batch of events into it, erase a lead, count the funnel."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import EventData
from outcomes.closures.repository import anonymize_closures
from outcomes.deals.repository import anonymize_deals
from outcomes.funnel import domain, repository
from outcomes.funnel.domain import FunnelReport
from outcomes.funnel.facts import fold_funnel
from outcomes.funnel.merges import fold_group, merge_group, merge_states, survivor_of
from outcomes.lifecycle import repository as lifecycle_repository
from outcomes.timeline.repository import erase_timeline


async def apply_funnel_events(uow: UnitOfWork, events: Sequence[EventData]) -> None:
    """Fold a batch's events (in consumption order) into the read model: the leads' funnel
    rows, the touch log, closed deals. A fixed number of statements whatever the batch's size:
    nothing is read first, as every column's merge rule runs in the upsert itself (race-free
    against a replica applying another topic's events of the same lead). Merges and their
    undoing set only which lead a duplicate counts as (outcomes.funnel.merges)."""
    driver = await uow.driver()
    await repository.save_funnel_plan(driver, fold_funnel(events))
    await repository.save_merge_states(driver, merge_states(events))


async def erase_lead(uow: UnitOfWork, lead_id: UUID) -> None:
    """Forget who the lead was; its numbers stay in the funnel as an anonymous row.

    A lead merged with others is one person with them (capture erases them all): the whole
    group is erased at once, into one anonymous row folded as the reports counted it, so the
    person still counts once. The erasures of the others then find tombstones and add nothing."""
    conn = uow.connection
    links = await repository.merge_links(conn)
    group, survivor = merge_group(links, lead_id), survivor_of(links, lead_id)
    held = [await repository.mark_funnel_lead_erased(conn, member) for member in group]
    anonymous_id = uuid.uuid4()
    copy = domain.anonymous_copy(fold_group(survivor, held), anonymous_id)
    if copy is not None:
        await repository.insert_anonymous_funnel_row(conn, copy)
    for member in group:
        await repository.clear_funnel_lead(conn, member)
        await anonymize_deals(conn, member, anonymous_id)
        # one closure per lead id: the group's others keep theirs under ids of their own
        await anonymize_closures(conn, member,
                                 anonymous_id if member == survivor else uuid.uuid4())
        await repository.anonymize_report_rows(conn, member, anonymous_id)
        await erase_timeline(conn, member)
        await lifecycle_repository.erase_stage(conn, member)


async def funnel(uow: UnitOfWork, created_from: datetime | None,
                 created_to: datetime | None) -> FunnelReport:
    """The funnel of the leads created in [created_from, created_to)."""
    stage_counts, pair_counts, not_converted = await repository.funnel_counts(
        uow.connection, created_from, created_to)
    return domain.funnel_report(stage_counts, pair_counts, not_converted)
