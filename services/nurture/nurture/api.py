"""Nurture's authenticated HTTP routes: enrollments, messages and sequences (admin)."""

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from nurture import catalog, repository
from nurture.content import catalog as content_catalog
from nurture.schemas import (
    EnrollmentOut,
    LeadEnrollments,
    LeadMessages,
    MessageOut,
    SequenceIn,
    SequenceList,
    SequenceOut,
)

router = APIRouter(prefix="/v1", tags=["nurture"])


@router.get("/leads/{lead_id}/enrollments", response_model=LeadEnrollments,
            dependencies=[Depends(require_scope("nurture:read"))])
async def get_lead_enrollments(lead_id: UUID,
                               uow: UnitOfWork = Depends(unit_of_work)) -> LeadEnrollments:
    """A lead's enrollments: which sequence version, where it stands, and why it stopped."""
    async with uow:
        enrollments = await repository.enrollments_of(uow.connection, lead_id)
    return LeadEnrollments(lead_id=lead_id,
                           enrollments=[EnrollmentOut.of(e) for e in enrollments])


@router.get("/leads/{lead_id}/messages", response_model=LeadMessages,
            dependencies=[Depends(require_scope("nurture:read"))])
async def get_lead_messages(lead_id: UUID,
                            uow: UnitOfWork = Depends(unit_of_work)) -> LeadMessages:
    """What nurture sent a lead: sequence, step, channel, template, when, and any refusal."""
    async with uow:
        rows = await repository.messages_of(uow.connection, lead_id)
    return LeadMessages(lead_id=lead_id, messages=[
        MessageOut(message_id=r.id, **{k: v for k, v in r._asdict().items()
                                      if k in MessageOut.model_fields}) for r in rows])


@router.get("/sequences", response_model=SequenceList,
            dependencies=[Depends(require_scope("admin"))])
async def list_sequences(uow: UnitOfWork = Depends(unit_of_work)) -> SequenceList:
    """Every version of every sequence, with its steps and entry rule."""
    async with uow:
        rows = await repository.all_sequences(uow.connection)
    return SequenceList(sequences=[SequenceOut.of(row) for row in rows])


@router.post("/sequences", response_model=SequenceOut, status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(require_scope("admin"))])
async def create_sequence_version(body: SequenceIn,
                                  uow: UnitOfWork = Depends(unit_of_work)) -> SequenceOut:
    """Store the next version of a sequence and make it live; running enrollments finish on
    the version they started with."""
    try:
        sequence = body.as_sequence()
    except ValidationError as exc:  # rules that span steps are checked on the whole sequence
        raise RequestValidationError(exc.errors()) from exc
    async with uow:
        steps, problems = content_catalog.pin_templates(
            sequence.steps, await content_catalog.current(uow.connection))
        if problems:  # maybe saved on another replica within the last second: look again
            content_catalog.invalidate()
            steps, problems = content_catalog.pin_templates(
                sequence.steps, await content_catalog.current(uow.connection))
        if problems:
            raise RequestValidationError([
                {"loc": ("body", *p.field.split(".")), "msg": p.reason,
                 "type": "template_reference"} for p in problems])
        sequence = sequence.model_copy(update={"steps": steps})
        stored = await repository.add_sequence_version(uow.connection, sequence)
        row = await repository.sequence_row(uow.connection, stored.key, stored.version)
        await uow.commit()
    catalog.invalidate()  # this replica's consumer enrolls into it at once, the others within 1 s
    return SequenceOut.of(row)


@router.post("/sequences/{key}/pause", status_code=status.HTTP_204_NO_CONTENT,
             dependencies=[Depends(require_scope("admin"))])
async def pause_sequence(key: str, uow: UnitOfWork = Depends(unit_of_work)) -> None:
    """Stop enrolling new leads into a sequence (running enrollments go on)."""
    async with uow:
        if not await repository.set_sequence_active(uow.connection, key, False):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sequence '{key}'")
        await uow.commit()
    catalog.invalidate()
