"""The dashboard's sign-in sessions."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outcomes.tables import dashboard_sessions


async def start_dashboard_session(conn: AsyncConnection, session_id: UUID, key_name: str,
                                  expires_at: datetime, now: datetime) -> None:
    """Record a dashboard sign-in, and forget the sessions that have expired."""
    await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
    await conn.execute(insert(dashboard_sessions).values(id=session_id, key_name=key_name,
                                                         expires_at=expires_at))


async def dashboard_session_key(conn: AsyncConnection, session_id: UUID,
                                now: datetime) -> str | None:
    """The name of the key a live session signed in with; None once signed out or expired."""
    return (await conn.execute(
        select(dashboard_sessions.c.key_name).where(dashboard_sessions.c.id == session_id,
                                                   dashboard_sessions.c.expires_at > now)
    )).scalar_one_or_none()


async def end_dashboard_session(conn: AsyncConnection, session_id: UUID) -> None:
    """Sign a session out for good."""
    await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.id == session_id))
