"""HTTP models of merges."""

from uuid import UUID

from pydantic import BaseModel

from leadloop.events.models import LeadProfile


class MergeIn(BaseModel):
    """Which duplicate to fold into the lead in the path."""

    duplicate_lead_id: UUID


class MergeOut(BaseModel):
    """A merge: the surviving lead, the duplicate folded into it, the merged profile."""

    merge_id: UUID
    lead_id: UUID
    merged_lead_id: UUID
    profile: LeadProfile
