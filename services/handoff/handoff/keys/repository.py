"""Queries on keys bound to reps (stored as SHA-256, never the key)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.tables import rep_keys, reps
from leadloop.pagination import Keyset

KEY_ORDER = Keyset((rep_keys.c.created_at, rep_keys.c.id), (datetime.fromisoformat, UUID),
                   descending=True)
"""A rep's keys are listed newest first."""


@dataclass(frozen=True, slots=True)
class RepKeyRow:
    """A key bound to a rep."""

    id: UUID
    rep_id: UUID
    name: str
    sha256: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class LiveKey:
    """A live (unrevoked) key and the rep it acts as."""

    name: str
    scopes: list[str]
    rep_id: UUID
    rep_email: str


async def live_key(conn: AsyncConnection, sha256: str) -> LiveKey | None:
    """The unrevoked key with this hash and its rep (one indexed query), or None."""
    row = (await conn.execute(
        select(rep_keys.c.name, rep_keys.c.scopes, rep_keys.c.rep_id,
               reps.c.email.label("rep_email"))
        .join(reps, reps.c.id == rep_keys.c.rep_id)
        .where(rep_keys.c.sha256 == sha256, rep_keys.c.revoked_at.is_(None))
    )).one_or_none()
    return None if row is None else LiveKey(**row._mapping)


async def insert_key(conn: AsyncConnection, rep_id: UUID, name: str, sha256: str,
                     scopes: list[str]) -> RepKeyRow:
    """Store a new key of the rep."""
    return RepKeyRow(**(await conn.execute(
        rep_keys.insert().values(id=uuid.uuid4(), rep_id=rep_id, name=name, sha256=sha256,
                                 scopes=scopes)
        .returning(*rep_keys.c))).one()._mapping)


async def keys_of(conn: AsyncConnection, rep_id: UUID, cursor: str | None,
                  limit: int) -> list[RepKeyRow]:
    """A page of the rep's keys, newest first (limit + 1 rows: KEY_ORDER.page cuts it)."""
    return [RepKeyRow(**row._mapping) for row in await conn.execute(KEY_ORDER.select(
        select(rep_keys).where(rep_keys.c.rep_id == rep_id), cursor, limit))]


async def revoke_key(conn: AsyncConnection, rep_id: UUID, key_id: UUID) -> RepKeyRow | None:
    """Revoke the rep's key (revoking twice keeps the first time); None: no such key."""
    row = (await conn.execute(
        update(rep_keys).where(rep_keys.c.id == key_id, rep_keys.c.rep_id == rep_id)
        .values(revoked_at=func.coalesce(rep_keys.c.revoked_at, func.now()))
        .returning(*rep_keys.c))).one_or_none()
    return None if row is None else RepKeyRow(**row._mapping)
