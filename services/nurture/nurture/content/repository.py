"""Template queries: add a version, read versions."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.pagination import Keyset
from nurture.tables import templates

TEMPLATE_ORDER = Keyset((templates.c.key, templates.c.version), (str, int),
                        descending=(False, True))
"""Templates are listed by key, newest version first within a key."""


@dataclass(frozen=True)
class TemplateVersion:
    """One stored version of a template."""

    key: str
    version: int
    channel: str
    subject: str | None
    html: str | None
    text: str | None
    description: str | None
    created_at: datetime


async def add_version(conn: AsyncConnection, key: str, values: dict[str, Any]) -> TemplateVersion:
    """Store the next version of template `key` (the first when new); returns the row.

    The advisory lock serializes concurrent saves of one key, so versions never collide."""
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"template:{key}"))))
    latest = (await conn.execute(select(func.coalesce(func.max(templates.c.version), 0))
                                 .where(templates.c.key == key))).scalar_one()
    row = (await conn.execute(insert(templates).values(key=key, version=latest + 1, **values)
                              .returning(templates))).one()
    return TemplateVersion(**row._asdict())


async def versions(conn: AsyncConnection, key: str) -> list[TemplateVersion]:
    """Every version of one template, newest first."""
    rows = await conn.execute(select(templates).where(templates.c.key == key)
                              .order_by(templates.c.version.desc()))
    return [TemplateVersion(**row._asdict()) for row in rows]


async def version_page(conn: AsyncConnection, cursor: str | None,
                       limit: int) -> list[TemplateVersion]:
    """A page of every version of every template, by key, newest version first within a key
    (limit + 1 rows: TEMPLATE_ORDER.page cuts it)."""
    rows = await conn.execute(TEMPLATE_ORDER.select(select(templates), cursor, limit))
    return [TemplateVersion(**row._asdict()) for row in rows]
