"""Keys bound to a sales rep: minted by an admin, shown once, stored as SHA-256, revocable.

`resolve_rep_key` is handoff's `app.state.key_resolver` (see leadloop.auth): a key that is not
configured is looked up here by its hash (one indexed query), and stands for its rep.
"""

import uuid
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.assignments.schemas import CleanName
from handoff.reps import repository as rep_repository
from handoff.tables import rep_keys, reps
from leadloop.app import runtime_of, unit_of_work
from leadloop.auth import Principal, generate_key, hash_key, require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import Keyset, Page, cursor_query, limit_query

router = APIRouter(prefix="/v1", tags=["rep keys"], dependencies=[Depends(require_scope("admin"))])
RepScope = Literal["sales", "sales:manage"]


def rep_key_name(rep_email: str, key_name: str) -> str:
    """How a rep key's actions are recorded: the rep's email and the key's name."""
    return f"rep:{rep_email}/{key_name}"


async def resolve_rep_key(request: Request, sha256: str) -> Principal | None:
    """The rep a live (unrevoked) key is bound to, as a Principal; None for an unknown key."""
    async with runtime_of(request).engine.connect() as conn:
        row = (await conn.execute(
            select(rep_keys.c.name, rep_keys.c.scopes, rep_keys.c.rep_id, reps.c.email)
            .join(reps, reps.c.id == rep_keys.c.rep_id)
            .where(rep_keys.c.sha256 == sha256, rep_keys.c.revoked_at.is_(None))
        )).one_or_none()
    if row is None:
        return None
    return Principal(name=rep_key_name(row.email, row.name), scopes=frozenset(row.scopes),
                     rep_id=row.rep_id)


class RepKeyIn(BaseModel):
    """A key for a rep: what it is called (the rep's laptop, phone, CRM plug-in) and whether it
    manages (sees the team's leads and the fallback queue, assigns by hand)."""

    model_config = ConfigDict(extra="forbid")

    name: CleanName = Field(default="default", min_length=1, max_length=100)
    scopes: list[RepScope] = Field(default=["sales"], min_length=1, max_length=2)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        # sales:manage without sales would grant a manager view the queue routes refuse.
        return sorted({"sales", *value})


class RepKeyOut(BaseModel):
    """A rep's key as listed: never the key itself."""

    # Built from a repository row: attributes it does not declare are not read.
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    rep_id: UUID
    name: str
    scopes: list[str]
    sha256: str
    created_at: datetime
    revoked_at: datetime | None


class RepKeyCreated(RepKeyOut):
    """A new key: `key` is shown this once and stored nowhere."""

    key: str


class RepKeyList(Page[RepKeyOut]):
    """A rep's keys, newest first (revoked ones too), a page at a time."""


_NO_REP = "no rep with this id"


KEY_ORDER = Keyset((rep_keys.c.created_at, rep_keys.c.id), (datetime.fromisoformat, UUID),
                   descending=True)


async def _keys_of(conn: AsyncConnection, rep_id: UUID, cursor: str | None,
                   limit: int) -> list[Any]:
    return list(await conn.execute(KEY_ORDER.select(
        select(rep_keys).where(rep_keys.c.rep_id == rep_id), cursor, limit)))


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
        row = (await uow.connection.execute(
            rep_keys.insert().values(id=uuid.uuid4(), rep_id=rep_id, name=key_in.name,
                                     sha256=hash_key(key), scopes=key_in.scopes)
            .returning(*rep_keys.c))).one()
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
        rows = await _keys_of(uow.connection, rep_id, cursor, limit)
    kept, next_cursor = KEY_ORDER.page(rows, limit)
    return RepKeyList(items=[RepKeyOut.model_validate(row) for row in kept],
                      next_cursor=next_cursor)


@router.delete("/reps/{rep_id}/keys/{key_id}", response_model=RepKeyOut,
               responses={404: {"description": "no key with this id for this rep"}})
async def revoke_rep_key(rep_id: UUID, key_id: UUID,
                         uow: UnitOfWork = Depends(unit_of_work)) -> RepKeyOut:
    """Revoke a key: from now on it opens nothing (revoking twice keeps the first time)."""
    async with uow:
        row = (await uow.connection.execute(
            update(rep_keys).where(rep_keys.c.id == key_id, rep_keys.c.rep_id == rep_id)
            .values(revoked_at=func.coalesce(rep_keys.c.revoked_at, func.now()))
            .returning(*rep_keys.c))).one_or_none()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no key with this id for this rep")
        await uow.commit()
    return RepKeyOut.model_validate(row)

