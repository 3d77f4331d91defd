"""Merging a duplicate lead into another, and undoing it, with history kept."""

import uuid
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel

from capture.idempotency import service as idempotency
from capture.leads import repository
from capture.leads.domain import merge_profiles
from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    LeadMerged,
    LeadProfile,
    LeadUnmerged,
    LeadUpdated,
    event_time_now,
)

router = APIRouter(prefix="/v1", tags=["merges"], dependencies=[Depends(require_scope("admin"))])


class MergeIn(BaseModel):
    """Which duplicate to fold into the lead in the path."""

    duplicate_lead_id: UUID


class MergeOut(BaseModel):
    """A merge: the surviving lead, the duplicate folded into it, the merged profile."""

    merge_id: UUID
    lead_id: UUID
    merged_lead_id: UUID
    profile: LeadProfile


def filled_by_merge(before: LeadProfile, duplicate: LeadProfile) -> dict[str, Any]:
    """Fields the duplicate filled on the survivor (they were empty there), with its values."""
    merged, _ = merge_profiles(duplicate, before)
    merged = merged.model_copy(update={"email": before.email})
    after = merged.model_dump()
    return {name: after["properties"][name.removeprefix("properties.")]
            if name.startswith("properties.") else after[name]
            for name in _diff(before, merged)}


def _diff(a: LeadProfile, b: LeadProfile) -> list[str]:
    da, db = a.model_dump(exclude={"properties"}), b.model_dump(exclude={"properties"})
    names = [k for k in da if da[k] != db[k]]
    names += [f"properties.{k}" for k in b.properties if a.properties.get(k) != b.properties[k]]
    return names


def undo_profile(current: LeadProfile, before: LeadProfile, duplicate: LeadProfile
                 ) -> LeadProfile:
    """The survivor without what the merge brought, keeping every change made since."""
    values = current.model_dump()
    for name, value in filled_by_merge(before, duplicate).items():
        if name.startswith("properties."):
            key = name.removeprefix("properties.")
            if values["properties"].get(key) == value:
                if key in before.properties:
                    values["properties"][key] = before.properties[key]
                else:
                    values["properties"].pop(key, None)
        elif values[name] == value:
            values[name] = getattr(before, name)
    return LeadProfile.model_validate(values)


async def _pair(uow: UnitOfWork, survivor_id: UUID, duplicate_id: UUID) -> tuple[Any, Any]:
    rows = {r.id: r for r in await repository.lock_leads_by_id(
        uow.connection, [survivor_id, duplicate_id])}
    if survivor_id not in rows or duplicate_id not in rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
    return rows[survivor_id], rows[duplicate_id]


@router.post("/leads/{lead_id}/merges", response_model=MergeOut, status_code=201)
async def merge_leads(lead_id: UUID, body: MergeIn, request: Request,
                      uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Fold a duplicate into this lead: its empty fields filled, the duplicate's activities
    and visitors moved here, its email resolving here from now on. With an Idempotency-Key a
    retry gets the first answer (not a 409)."""
    if body.duplicate_lead_id == lead_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "a lead cannot be merged into itself")
    async def merge(uow: UnitOfWork) -> dict[str, Any]:
        return (await _merge(uow, lead_id, body)).model_dump(mode="json")
    return await idempotency.answer_once(request, uow, "merges", 201, merge)


async def _merge(uow: UnitOfWork, lead_id: UUID, body: MergeIn) -> MergeOut:
    now = event_time_now()
    survivor, duplicate = await _pair(uow, lead_id, body.duplicate_lead_id)
    if survivor.merged_into or duplicate.merged_into:
        raise HTTPException(status.HTTP_409_CONFLICT, "one of these leads is merged already")
    before = LeadProfile.model_validate(survivor.profile)
    merged, _ = merge_profiles(LeadProfile.model_validate(duplicate.profile), before)
    merged = merged.model_copy(update={"email": survivor.email})
    changed = _diff(before, merged)
    await repository.update_lead(uow.connection, lead_id, merged.model_dump(mode="json"),
                                 survivor.consent, now)
    await repository.set_merged_into(uow.connection, duplicate.id, lead_id)
    moved, visitors = await repository.move_history(uow.connection, duplicate.id, lead_id)
    merge_id = uuid.uuid4()
    await repository.insert_merge(uow.connection, {
        "id": merge_id, "survivor_id": lead_id, "absorbed_id": duplicate.id,
        "survivor_before": before.model_dump(mode="json"), "moved_activity_ids": moved,
        "moved_visitor_ids": visitors})
    uow.publish(LeadMerged(lead_id=lead_id, merged_lead_id=duplicate.id, merge_id=merge_id,
                           profile=merged, merged_at=now))
    if changed:
        uow.publish(LeadUpdated(lead_id=lead_id, profile=merged, consent=survivor.consent,
                                changed_fields=changed, updated_at=now))
    return MergeOut(merge_id=merge_id, lead_id=lead_id, merged_lead_id=duplicate.id,
                    profile=merged)


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
async def undo_merge(merge_id: UUID, request: Request,
                     uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Separate the two leads again; later changes to the survivor are kept. With an
    Idempotency-Key a retry gets the first answer (not a 409)."""
    async def undo(uow: UnitOfWork) -> dict[str, Any]:
        return (await _undo(uow, merge_id)).model_dump(mode="json")
    return await idempotency.answer_once(request, uow, "merges", 200, undo)


async def _undo(uow: UnitOfWork, merge_id: UUID) -> MergeOut:
    now = event_time_now()
    merge = await repository.lock_merge(uow.connection, merge_id)
    if merge is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no merge with this id")
    if merge.undone_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this merge was undone already")
    survivor, duplicate = await _pair(uow, merge.survivor_id, merge.absorbed_id)
    current = LeadProfile.model_validate(survivor.profile)
    restored = undo_profile(current, LeadProfile.model_validate(merge.survivor_before),
                            LeadProfile.model_validate(duplicate.profile))
    await repository.update_lead(uow.connection, survivor.id,
                                 restored.model_dump(mode="json"), survivor.consent, now)
    await repository.set_merged_into(uow.connection, duplicate.id, None)
    await repository.move_back(uow.connection, duplicate.id, merge.moved_activity_ids,
                               merge.moved_visitor_ids)
    await repository.mark_merge_undone(uow.connection, merge_id)
    duplicate_profile = LeadProfile.model_validate(duplicate.profile)
    uow.publish(LeadUnmerged(lead_id=survivor.id, restored_lead_id=duplicate.id,
                             merge_id=merge_id, profile=restored,
                             restored_profile=duplicate_profile, unmerged_at=now))
    changed = _diff(current, restored)
    if changed:
        uow.publish(LeadUpdated(lead_id=survivor.id, profile=restored,
                                consent=survivor.consent, changed_fields=changed,
                                updated_at=now))
    return MergeOut(merge_id=merge_id, lead_id=survivor.id, merged_lead_id=duplicate.id,
                    profile=restored)
