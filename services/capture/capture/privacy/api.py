"""GDPR request routes: erase a person everywhere (DELETE, capture.privacy.service) and answer
an access request (export, capture.privacy.export)."""

from dataclasses import asdict
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from capture.config import CaptureSettings
from capture.privacy import export, repository, service
from capture.privacy.schemas import LeadExport
from leadloop.app import Runtime, get_runtime, settings_of, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now

# Both are the data controller's acts, not everyday sales work: admin only (an export holds
# more than leads:read shows, e.g. raw form submissions).
router = APIRouter(prefix="/v1", tags=["privacy"], dependencies=[Depends(require_scope("admin"))])


@router.delete("/leads/{lead_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "No lead with this id was ever known"}})
async def erase_lead(lead_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Erase the person (GDPR art. 17): their data here, their key, then every service's copy
    through lead.erased. Repeating it for an erased lead changes nothing and answers 204."""
    if not await service.erase_person(uow, lead_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/leads/{lead_id}/export", response_model=LeadExport,
            responses={404: {"description": "No such lead, or it was erased"},
                       503: {"description": "Another service did not answer (named)"}})
async def export_lead(lead_id: UUID, request: Request, uow: UnitOfWork = Depends(unit_of_work),
                      runtime: Runtime = Depends(get_runtime)) -> LeadExport:
    """Everything LeadLoop holds about the person, for an access request (GDPR art. 15):
    capture's data, and every other service's own export (capture.export explains how)."""
    async with uow:
        lead_ids = await repository.person_lead_ids(uow.connection, lead_id)
        if not lead_ids:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
        held = await repository.export_person(uow.connection, lead_ids)
    # A service that did not answer raises a 503 problem naming it (capture.privacy.export).
    services = await export.gather(settings_of(runtime, CaptureSettings), lead_ids,
                                   export.caller_key_headers(request))
    return LeadExport(lead_id=lead_id, exported_at=event_time_now(), services=services,
                      **asdict(held))
