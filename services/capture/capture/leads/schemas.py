"""Capture's HTTP answers about leads."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from leadloop.events.models import Consent, LeadProfile, LeadSource


class LeadAccepted(BaseModel):
    """What capture answers for an accepted lead."""

    lead_id: UUID
    status: Literal["created", "updated", "unchanged"]


class LeadOut(BaseModel):
    """A lead as capture stores it."""

    lead_id: UUID
    profile: LeadProfile
    consent: Consent
    source: LeadSource
    merged_into: UUID | None = None
