"""Reps: add and change the people leads are routed to."""


import uuid
from typing import Any
from uuid import UUID

from handoff.exceptions import (
    DuplicateRepEmail,
    InvalidManager,
    RepNotFound,
)
from handoff.reps import repository
from handoff.reps.schemas import RepIn, RepPatch
from leadloop.db import UnitOfWork


async def _check_manager(uow: UnitOfWork, rep_id: UUID, manager_id: UUID | None) -> None:
    if manager_id is None:
        return
    if manager_id == rep_id:
        raise InvalidManager("a rep cannot be its own manager")
    if await repository.get_rep(uow.connection, manager_id) is None:
        raise InvalidManager("no rep with this id")




async def create_rep(uow: UnitOfWork, rep_in: RepIn) -> Any:
    """Add a rep; raises DuplicateRepEmail when its email is taken."""
    rep_id = uuid.uuid4()
    await _check_manager(uow, rep_id, rep_in.manager_id)
    if not await repository.insert_rep(uow.connection, {"id": rep_id, **rep_in.columns()}):
        raise DuplicateRepEmail
    return await repository.get_rep(uow.connection, rep_id)


async def update_rep(uow: UnitOfWork, rep_id: UUID, patch: RepPatch) -> Any:
    """Change a rep. Leads it holds stay with it; capacity and activity steer new leads only."""
    changes = patch.changes()
    await _check_manager(uow, rep_id, changes.get("manager_id"))
    found = (await repository.update_rep(uow.connection, rep_id, changes) if changes
             else await repository.get_rep(uow.connection, rep_id) is not None)
    if not found:
        raise RepNotFound
    return await repository.get_rep(uow.connection, rep_id)

