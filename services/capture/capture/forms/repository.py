"""Queries for forms, submissions, idempotency keys, visitors and activities."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.tables import activities, forms, idempotency_keys
from leadloop.pagination import Keyset


async def insert_form(conn: AsyncConnection, form_id: str, config: dict[str, Any],
                      key_sha256: str) -> bool:
    """Store a new form; False if the id is taken."""
    inserted = await conn.scalar(
        insert(forms).values(id=form_id, config=config, public_key_sha256=key_sha256)
        .on_conflict_do_nothing(index_elements=[forms.c.id]).returning(forms.c.id))
    return inserted is not None


async def update_form(conn: AsyncConnection, form_id: str, values: dict[str, Any]) -> bool:
    """Change a form's config or key; False if there is no such form."""
    result = await conn.execute(update(forms).where(forms.c.id == form_id)
                                .values(**values, updated_at=func.now()))
    return result.rowcount == 1


async def get_form(conn: AsyncConnection, form_id: str) -> Any | None:
    """A form row, or None."""
    return (await conn.execute(select(forms).where(forms.c.id == form_id))).one_or_none()


async def list_forms(conn: AsyncConnection) -> list[Any]:
    """Every form, by id (the forms reference holds them all in memory)."""
    return list((await conn.execute(select(forms).order_by(forms.c.id))).all())


FORM_ORDER = Keyset((forms.c.id,), (str,))
"""Forms are listed by id."""

ACTIVITY_ORDER = Keyset((activities.c.occurred_at, activities.c.id),
                        (datetime.fromisoformat, UUID), descending=True)
"""A lead's activities are listed newest first."""


async def form_page(conn: AsyncConnection, cursor: str | None, limit: int) -> list[Any]:
    """A page of forms (limit + 1 rows: FORM_ORDER.page cuts it)."""
    return list((await conn.execute(FORM_ORDER.select(select(forms), cursor, limit))).all())


async def claim_idempotency_key(conn: AsyncConnection, scope: str, key: str,
                                request_sha256: str) -> Any | None:
    """Claim a key for this transaction; None if claimed, else the first request's row.

    A concurrent first request holds the row until it commits, so a retry waits for it and
    then sees its stored response, or claims the key itself if the first rolled back.
    """
    claimed = await conn.scalar(
        insert(idempotency_keys).values(scope=scope, key=key, request_sha256=request_sha256)
        .on_conflict_do_nothing().returning(idempotency_keys.c.key))
    if claimed is not None:
        return None
    return (await conn.execute(select(idempotency_keys).where(
        idempotency_keys.c.scope == scope, idempotency_keys.c.key == key))).one()


async def store_idempotent_response(conn: AsyncConnection, scope: str, key: str,
                                    status_code: int, response: dict[str, Any]) -> None:
    """Remember the answer a claimed key's request got."""
    await conn.execute(update(idempotency_keys).where(
        idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=response))


async def lead_activities(conn: AsyncConnection, lead_id: UUID, cursor: str | None,
                          limit: int) -> list[Any]:
    """A page of a lead's activities, newest first (limit + 1 rows: ACTIVITY_ORDER.page
    cuts it)."""
    return list((await conn.execute(ACTIVITY_ORDER.select(
        select(activities).where(activities.c.lead_id == lead_id), cursor, limit))).all())
