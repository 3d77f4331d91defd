"""Keys bound to a sales rep (scope "admin"): minted by an admin, shown once, stored as
SHA-256, revocable."""

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status

from handoff.keys import repository
from handoff.keys.schemas import RepKeyCreated, RepKeyIn, RepKeyList, RepKeyOut
from handoff.reps import repository as rep_repository
from leadloop.app import unit_of_work
from leadloop.auth import generate_key, hash_key, require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import cursor_query, limit_query

router = APIRouter(prefix="/v1", tags=["rep keys"], dependencies=[Depends(require_scope("admin"))])
_NO_REP = "no rep with this id"


@router.post("/reps/{rep_id}/keys", response_model=RepKeyCreated,
             status_code=status.HTTP_201_CREATED, responses={404: {"description": _NO_REP}})
async def mint_rep_key(rep_id: UUID, key_in: RepKeyIn,
                       uow: UnitOfWork = Depends(unit_of_work)) -> RepKeyCreated:
    """Mint a key that acts as this rep: it sees and acts on the rep's own leads (with
    `sales:manage`, or when reps report to it, its team's). The key is in this answer only."""
    key = generate_key()
    async with uow:
        if await rep_repository.get_rep(uow.connection, rep_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP)
        row = await repository.insert_key(uow.connection, rep_id, key_in.name, hash_key(key),
                                          list(key_in.scopes))
        await uow.commit()
    return RepKeyCreated(**RepKeyOut.model_validate(row).model_dump(), key=key)


@router.get("/reps/{rep_id}/keys", response_model=RepKeyList,
            responses={404: {"description": _NO_REP}})
async def list_rep_keys(rep_id: UUID, limit: int = limit_query(),
                        cursor: str | None = cursor_query(),
                        uow: UnitOfWork = Depends(unit_of_work)) -> RepKeyList:
    """The rep's keys (hashes only), newest first."""
    async with uow:
        if await rep_repository.get_rep(uow.connection, rep_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP)
        rows = await repository.keys_of(uow.connection, rep_id, cursor, limit)
    kept, next_cursor = repository.KEY_ORDER.page(rows, limit)
    return RepKeyList(items=[RepKeyOut.model_validate(row) for row in kept],
                      next_cursor=next_cursor)


@router.delete("/reps/{rep_id}/keys/{key_id}", response_model=RepKeyOut,
               responses={404: {"description": "no key with this id for this rep"}})
async def revoke_rep_key(rep_id: UUID, key_id: UUID,
                         uow: UnitOfWork = Depends(unit_of_work)) -> RepKeyOut:
    """Revoke a key: from now on it opens nothing (revoking twice keeps the first time)."""
    async with uow:
        row = await repository.revoke_key(uow.connection, rep_id, key_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no key with this id for this rep")
        await uow.commit()
    return RepKeyOut.model_validate(row)

