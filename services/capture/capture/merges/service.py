"""Merging a duplicate lead into another, and undoing it, with history kept: the duplicate's
empty fields fill the survivor's, its activities and visitors move over, its email resolves to
the survivor from then on; undoing takes back only what the merge brought."""

import uuid
from dataclasses import replace
from uuid import UUID

from capture.exceptions import MergeNotFound, MergeRefused
from capture.leads import repository as leads_repository
from capture.leads.domain import merge_profiles
from capture.leads.plan import StoredLead
from capture.merges import repository
from capture.merges.domain import MergeResult, profile_diff, undo_profile
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadMerged, LeadUnmerged, LeadUpdated, event_time_now


async def _pair(uow: UnitOfWork, survivor_id: UUID, duplicate_id: UUID
                ) -> tuple[StoredLead, StoredLead]:
    rows = {r.id: r for r in await leads_repository.lock_leads_by_id(
        await uow.driver(), sorted([survivor_id, duplicate_id]))}
    if survivor_id not in rows or duplicate_id not in rows:
        raise MergeNotFound("no lead with this id")
    return rows[survivor_id], rows[duplicate_id]


async def merge(uow: UnitOfWork, lead_id: UUID, duplicate_id: UUID) -> MergeResult:
    """Fold the duplicate into the lead (both locked), record how to undo it, announce it."""
    now = event_time_now()
    survivor, duplicate = await _pair(uow, lead_id, duplicate_id)
    if survivor.merged_into or duplicate.merged_into:
        raise MergeRefused("one of these leads is merged already")
    before = survivor.profile
    merged, _ = merge_profiles(duplicate.profile, before)
    merged = merged.model_copy(update={"email": survivor.email})
    changed = profile_diff(before, merged)
    await leads_repository.update_leads(await uow.driver(),
                                        [replace(survivor, profile=merged)], now)
    await repository.set_merged_into(uow.connection, duplicate.id, lead_id)
    moved, visitors = await repository.move_history(uow.connection, duplicate.id, lead_id)
    merge_id = uuid.uuid4()
    await repository.insert_merge(uow.connection, merge_id, lead_id, duplicate.id, before,
                                  moved, visitors)
    uow.publish(LeadMerged(lead_id=lead_id, merged_lead_id=duplicate.id, merge_id=merge_id,
                           profile=merged, merged_at=now))
    if changed:
        uow.publish(LeadUpdated(lead_id=lead_id, profile=merged, consent=survivor.consent,
                                changed_fields=changed, updated_at=now))
    return MergeResult(merge_id=merge_id, lead_id=lead_id, merged_lead_id=duplicate.id,
                       profile=merged)


async def undo(uow: UnitOfWork, merge_id: UUID) -> MergeResult:
    """Separate a merge's two leads again, keeping later changes to the survivor."""
    now = event_time_now()
    merge = await repository.lock_merge(uow.connection, merge_id)
    if merge is None:
        raise MergeNotFound("no merge with this id")
    if merge.undone_at is not None:
        raise MergeRefused("this merge was undone already")
    survivor, duplicate = await _pair(uow, merge.survivor_id, merge.absorbed_id)
    current = survivor.profile
    restored = undo_profile(current, merge.survivor_before, duplicate.profile)
    await leads_repository.update_leads(await uow.driver(),
                                        [replace(survivor, profile=restored)], now)
    await repository.set_merged_into(uow.connection, duplicate.id, None)
    await repository.move_back(uow.connection, duplicate.id, merge.moved_activity_ids,
                               merge.moved_visitor_ids)
    await repository.mark_merge_undone(uow.connection, merge_id)
    uow.publish(LeadUnmerged(lead_id=survivor.id, restored_lead_id=duplicate.id,
                             merge_id=merge_id, profile=restored,
                             restored_profile=duplicate.profile, unmerged_at=now))
    changed = profile_diff(current, restored)
    if changed:
        uow.publish(LeadUpdated(lead_id=survivor.id, profile=restored,
                                consent=survivor.consent, changed_fields=changed,
                                updated_at=now))
    return MergeResult(merge_id=merge_id, lead_id=survivor.id, merged_lead_id=duplicate.id,
                       profile=restored)
