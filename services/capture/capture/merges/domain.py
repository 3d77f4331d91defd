"""Pure rules of a merge: what the duplicate fills on the survivor, and what undoing takes
back (keeping every change made since)."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from capture.leads.domain import merge_profiles
from leadloop.events.models import LeadProfile


@dataclass(frozen=True)
class MergeResult:
    """A merge (or its undoing): the surviving lead, the duplicate, the survivor's profile."""

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
            for name in profile_diff(before, merged)}


def profile_diff(a: LeadProfile, b: LeadProfile) -> list[str]:
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
