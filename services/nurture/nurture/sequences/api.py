"""Sequence routes (admin): list every version, save a new one, pause one."""

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import cursor_query, limit_query
from nurture.content import catalog as content_catalog
from nurture.sequences import catalog, repository
from nurture.sequences.schemas import SequenceIn, SequenceList, SequenceOut

router = APIRouter(prefix="/v1", tags=["nurture"])


@router.get("/sequences", response_model=SequenceList,
            dependencies=[Depends(require_scope("admin"))])
async def list_sequences(limit: int = limit_query(), cursor: str | None = cursor_query(),
                         uow: UnitOfWork = Depends(unit_of_work)) -> SequenceList:
    """Every version of every sequence, with its steps and entry rule, by key, newest version
    first within a key."""
    async with uow:
        rows = await repository.all_sequences(uow.connection, cursor, limit)
    kept, next_cursor = repository.SEQUENCE_ORDER.page(rows, limit)
    return SequenceList(items=[SequenceOut.of(row) for row in kept], next_cursor=next_cursor)


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
    assert row is not None, "the version just stored"
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
