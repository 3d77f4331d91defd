"""Queries on forms."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.tables import forms
from leadloop.pagination import Keyset


@dataclass(frozen=True)
class StoredForm:
    """A form as stored: its config (FormConfigIn's JSON) and the hash of its public key."""

    id: str
    config: dict[str, Any]
    public_key_sha256: str


def _form(row: Any) -> StoredForm:
    return StoredForm(row.id, row.config, row.public_key_sha256)


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


async def get_form(conn: AsyncConnection, form_id: str) -> StoredForm | None:
    """A form, or None."""
    row = (await conn.execute(select(forms).where(forms.c.id == form_id))).one_or_none()
    return None if row is None else _form(row)


async def list_forms(conn: AsyncConnection) -> list[StoredForm]:
    """Every form, by id (the forms reference holds them all in memory)."""
    return [_form(row) for row in await conn.execute(select(forms).order_by(forms.c.id))]


FORM_ORDER = Keyset((forms.c.id,), (str,))
"""Forms are listed by id."""


async def form_page(conn: AsyncConnection, cursor: str | None, limit: int) -> list[StoredForm]:
    """A page of forms (limit + 1 rows: FORM_ORDER.page cuts it)."""
    return [_form(row) for row in await conn.execute(FORM_ORDER.select(select(forms), cursor,
                                                                       limit))]
