"""Sequence queries: store a version, read one or a page of them, pause one."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.pagination import Keyset
from nurture.sequences.domain import Sequence
from nurture.tables import sequences

SEQUENCE_ORDER = Keyset((sequences.c.key, sequences.c.version), (str, int),
                        descending=(False, True))
"""Sequences are listed by key, newest version first within a key."""


@dataclass(frozen=True)
class StoredSequence:
    """One stored sequence version as saved: steps and settings as JSON (the API shows them as
    stored; domain.Sequence is what runs)."""

    key: str
    version: int
    entry_rule: str
    steps: list[dict[str, Any]]
    active: bool
    settings: dict[str, Any]
    created_at: datetime

async def add_sequence_version(conn: AsyncConnection, sequence: Sequence) -> Sequence:
    """Store `sequence` as the next version of its key and make it the live one.

    The advisory lock serializes concurrent edits of one key, so versions never collide.
    """
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(sequence.key))))
    latest = (await conn.execute(
        select(func.coalesce(func.max(sequences.c.version), 0))
        .where(sequences.c.key == sequence.key)
    )).scalar_one()
    stored = sequence.model_copy(update={"version": latest + 1})
    await conn.execute(update(sequences).where(sequences.c.key == sequence.key, sequences.c.active)
                       .values(active=False))
    await conn.execute(insert(sequences).values(
        key=stored.key, version=stored.version, entry_rule=stored.entry_rule.value,
        steps=[s.model_dump(mode="json") for s in stored.steps], active=stored.active,
        settings=stored.settings))
    return stored


async def sequence_row(conn: AsyncConnection, key: str,
                       version: int) -> StoredSequence | None:
    """One stored sequence version, or None."""
    row = (await conn.execute(
        select(sequences).where(sequences.c.key == key, sequences.c.version == version)
    )).first()
    return None if row is None else StoredSequence(**row._asdict())


async def set_sequence_active(conn: AsyncConnection, key: str, active: bool) -> bool:
    """Pause (or resume) the newest version of a sequence; False if the key is unknown."""
    newest = (select(func.max(sequences.c.version)).where(sequences.c.key == key)
              .scalar_subquery())
    result = await conn.execute(update(sequences)
                                .where(sequences.c.key == key, sequences.c.version == newest)
                                .values(active=active))
    return bool(result.rowcount)


async def all_sequences(conn: AsyncConnection, cursor: str | None,
                        limit: int) -> list[StoredSequence]:
    """A page of every version of every sequence, by key, newest version first within a key
    (limit + 1 rows: SEQUENCE_ORDER.page cuts it)."""
    rows = await conn.execute(SEQUENCE_ORDER.select(select(sequences), cursor, limit))
    return [StoredSequence(**row._asdict()) for row in rows]


