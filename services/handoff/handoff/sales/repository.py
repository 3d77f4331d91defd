"""Queries on the sales page's sessions (a session holds its key's hash, never the key)."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.tables import page_sessions


async def session_key(conn: AsyncConnection, session_id: UUID, now: datetime) -> str | None:
    """The key hash of a live session, or None (unknown, ended or expired)."""
    sha256: str | None = (await conn.execute(
        select(page_sessions.c.key_sha256).where(page_sessions.c.id == session_id,
                                                 page_sessions.c.expires_at > now))).scalar()
    return sha256


async def start_session(conn: AsyncConnection, session_id: UUID, key_sha256: str,
                        now: datetime, expires_at: datetime) -> None:
    """Store a new session (and forget the expired ones)."""
    await conn.execute(delete(page_sessions).where(page_sessions.c.expires_at <= now))
    await conn.execute(insert(page_sessions).values(id=session_id, key_sha256=key_sha256,
                                                    expires_at=expires_at))


async def end_session(conn: AsyncConnection, session_id: UUID) -> None:
    """Forget a session for good."""
    await conn.execute(delete(page_sessions).where(page_sessions.c.id == session_id))
