"""Template queries: add a version, read versions."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from nurture.tables import templates


async def add_version(conn: AsyncConnection, key: str, values: dict[str, Any]) -> Any:
    """Store the next version of template `key` (the first when new); returns the row.

    The advisory lock serializes concurrent saves of one key, so versions never collide."""
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"template:{key}"))))
    latest = (await conn.execute(select(func.coalesce(func.max(templates.c.version), 0))
                                 .where(templates.c.key == key))).scalar_one()
    return (await conn.execute(insert(templates).values(key=key, version=latest + 1, **values)
                               .returning(templates))).one()


async def versions(conn: AsyncConnection, key: str | None = None) -> list[Any]:
    """Every version (of one key, or of all), newest version first within a key."""
    query = select(templates).order_by(templates.c.key, templates.c.version.desc())
    if key is not None:
        query = query.where(templates.c.key == key)
    return list(await conn.execute(query))
