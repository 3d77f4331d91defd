"""GDPR requests: erase a person everywhere (DELETE) and answer an access request (export).

Erasure deletes what capture holds, destroys the person's data key (every copy of their
personal data in events, in Kafka and in any outbox, becomes unreadable) and publishes
lead.erased, on which every other service deletes or anonymizes its own copy.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from capture.config import CaptureSettings
from capture.privacy import export
from capture.privacy import repository as privacy_repository
from leadloop.app import Runtime, get_runtime, settings_of, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadErased, event_time_now
from leadloop.events.topology import KEY_OWNER
from leadloop.keyring import is_shredded, shred_keys

# Both are the data controller's acts, not everyday sales work: admin only (an export holds
# more than leads:read shows, e.g. raw form submissions).
router = APIRouter(prefix="/v1", tags=["privacy"], dependencies=[Depends(require_scope("admin"))])


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


@router.delete("/leads/{lead_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "No lead with this id was ever known"}})
async def erase_lead(lead_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Erase the person (GDPR art. 17): their data here, their key, then every service's copy
    through lead.erased. Repeating it for an erased lead changes nothing and answers 204."""
    async with uow:
        lead_ids = await privacy_repository.person_lead_ids(uow.connection, lead_id)
        if not lead_ids:
            if await is_shredded(uow.connection, str(lead_id)):
                return Response(status_code=status.HTTP_204_NO_CONTENT)
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
        emails = [row["email"] for row in (await privacy_repository.export_person(
            uow.connection, lead_ids))["leads"]]
        await privacy_repository.delete_person(uow.connection, lead_ids, emails)
        await shred_keys(uow.connection, [str(i) for i in lead_ids], KEY_OWNER)
        now = event_time_now()
        for erased_id in lead_ids:
            uow.publish(LeadErased(lead_id=erased_id, erased_at=now))
        await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/leads/{lead_id}/export", response_model=LeadExport,
            responses={404: {"description": "No such lead, or it was erased"},
                       503: {"description": "Another service did not answer (named)"}})
async def export_lead(lead_id: UUID, request: Request, uow: UnitOfWork = Depends(unit_of_work),
                      runtime: Runtime = Depends(get_runtime)) -> LeadExport:
    """Everything LeadLoop holds about the person, for an access request (GDPR art. 15):
    capture's data, and every other service's own export (capture.export explains how)."""
    async with uow:
        lead_ids = await privacy_repository.person_lead_ids(uow.connection, lead_id)
        if not lead_ids:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
        held = await privacy_repository.export_person(uow.connection, lead_ids)
    # A service that did not answer raises a 503 problem naming it (capture.privacy.export).
    services = await export.gather(settings_of(runtime, CaptureSettings), lead_ids,
                                   export.caller_key_headers(request))
    return LeadExport(lead_id=lead_id, exported_at=event_time_now(), services=services, **held)
