"""Reps: add and change the people leads are routed to."""

import uuid
from uuid import UUID

from handoff.exceptions import DuplicateRepEmail, InvalidManager, RepNotFound
from handoff.reps import repository
from handoff.reps.domain import NewRep, RepChange
from handoff.reps.repository import RepRow
from leadloop.db import UnitOfWork


async def _check_manager(uow: UnitOfWork, rep_id: UUID, manager_id: UUID | None) -> None:
    if manager_id is None:
        return
    if manager_id == rep_id:
        raise InvalidManager("a rep cannot be its own manager")
    if await repository.get_rep(uow.connection, manager_id) is None:
        raise InvalidManager("no rep with this id")


async def _stored(uow: UnitOfWork, rep_id: UUID) -> RepRow:
    rep = await repository.get_rep(uow.connection, rep_id)
    if rep is None:
        raise RepNotFound
    return rep


async def create_rep(uow: UnitOfWork, rep: NewRep) -> RepRow:
    """Add a rep; raises DuplicateRepEmail when its email is taken."""
    rep_id = uuid.uuid4()
    await _check_manager(uow, rep_id, rep.manager_id)
    if not await repository.insert_rep(uow.connection, {"id": rep_id, **rep.columns()}):
        raise DuplicateRepEmail
    return await _stored(uow, rep_id)


async def update_rep(uow: UnitOfWork, rep_id: UUID, patch: RepChange) -> RepRow:
    """Change a rep. Leads it holds stay with it; capacity and activity steer new leads only."""
    changes = patch.changes()
    await _check_manager(uow, rep_id, changes.get("manager_id"))
    if changes and not await repository.update_rep(uow.connection, rep_id, changes):
        raise RepNotFound
    return await _stored(uow, rep_id)
