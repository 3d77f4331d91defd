"""HTTP models of GDPR requests."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class LeadExport(BaseModel):
    """Everything LeadLoop holds about a person (a lead and the duplicates merged into it):
    capture's own data, and each other service's under `services`."""

    lead_id: UUID
    exported_at: datetime
    leads: list[dict[str, Any]] = Field(description="identity, profile, consent, source")
    activities: list[dict[str, Any]]
    form_submissions: list[dict[str, Any]] = Field(description="raw form bodies as received")
    merges: list[dict[str, Any]]
    visitors: list[dict[str, Any]] = Field(description="browser ids tied to the person")
    consent_confirmations: list[dict[str, Any]] = Field(
        default_factory=list, description="double opt-in requests and when they were confirmed")
    services: dict[str, dict[str, list[dict[str, Any]]]] = Field(
        default_factory=dict, description="every other service's data about the person: "
        "service -> section -> rows (scoring: score, reasons, history; nurture: messages, "
        "opens and clicks; handoff: assignments; outcomes: deals)")
