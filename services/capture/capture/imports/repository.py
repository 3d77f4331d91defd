"""Queries of bulk import: the import's row and its stored CSV parts, its progress per chunk,
and the staging table through which a chunk's new leads are inserted in one statement."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.imports.domain import ImportProgress
from capture.tables import import_parts, imports

MAX_STORED_ERRORS = 1000


@dataclass(frozen=True)
class Import:
    """An import: how far it got, and how it was asked for (column mapping, campaign)."""

    progress: ImportProgress
    mapping: dict[str, str]
    campaign: str | None


@dataclass(frozen=True)
class StagedRow:
    """A staged row after the insert: the lead it created (None: its email was taken), with
    the stored profile and consent."""

    index: int
    lead_id: UUID | None
    profile: dict[str, Any]
    consent: dict[str, Any]


async def create_import(conn: AsyncConnection, import_id: UUID, mapping: dict[str, str],
                        campaign: str | None) -> None:
    """Record a new running import."""
    await conn.execute(insert(imports).values(id=import_id, status="running", mapping=mapping,
                                              campaign=campaign))


async def add_part(conn: AsyncConnection, import_id: UUID, part: int, data: bytes) -> None:
    """Store the next part of an import's CSV."""
    await conn.execute(insert(import_parts).values(import_id=import_id, part=part, data=data))


async def get_import(conn: AsyncConnection, import_id: UUID) -> Import | None:
    """An import, or None."""
    row = (await conn.execute(select(imports).where(imports.c.id == import_id))).one_or_none()
    if row is None:
        return None
    progress = ImportProgress(import_id=row.id, status=row.status, rows_total=row.rows_total,
                              created=row.created, updated=row.updated,
                              unchanged=row.unchanged, failed=row.failed, errors=row.errors)
    return Import(progress, row.mapping, row.campaign)


async def running_import_ids(conn: AsyncConnection) -> list[UUID]:
    """The imports still running, oldest first."""
    return list((await conn.scalars(select(imports.c.id).where(imports.c.status == "running")
                                    .order_by(imports.c.created_at))).all())


async def part_numbers(conn: AsyncConnection, import_id: UUID) -> list[int]:
    """The numbers of an import's stored CSV parts, in order."""
    return list((await conn.scalars(select(import_parts.c.part)
                                    .where(import_parts.c.import_id == import_id)
                                    .order_by(import_parts.c.part))).all())


async def part_data(conn: AsyncConnection, import_id: UUID, part: int) -> bytes:
    """One stored part of an import's CSV."""
    data: bytes = (await conn.execute(select(import_parts.c.data).where(
        import_parts.c.import_id == import_id, import_parts.c.part == part))).scalar_one()
    return data


async def finish_import(conn: AsyncConnection, import_id: UUID, status: str) -> None:
    """An import ended (completed or failed): its CSV is dropped."""
    await conn.execute(update(imports).where(imports.c.id == import_id)
                       .values(status=status, finished_at=func.now()))
    await conn.execute(delete(import_parts).where(import_parts.c.import_id == import_id))


async def record_progress(conn: AsyncConnection, import_id: UUID, done_before: int, rows: int,
                          leads: dict[str, int], failed: int, errors: list[dict[str, Any]]
                          ) -> bool:
    """Add a chunk to an import that had `done_before` rows: its `rows`, the leads it
    created, updated and left unchanged, how many rows `failed` and their `errors` (the first
    MAX_STORED_ERRORS kept); False when the import had moved on (another process applied
    this chunk)."""
    progressed = await conn.execute(
        update(imports).where(imports.c.id == import_id, imports.c.rows_total == done_before)
        .values(rows_total=imports.c.rows_total + rows,
                created=imports.c.created + leads["created"],
                updated=imports.c.updated + leads["updated"],
                unchanged=imports.c.unchanged + leads["unchanged"],
                failed=imports.c.failed + failed,
                errors=func.jsonb_path_query_array(
                    imports.c.errors.op("||")(bindparam("new_errors", errors, type_=JSONB)),
                    literal_column(f"'$[0 to {MAX_STORED_ERRORS - 1}]'::jsonpath"))))
    return progressed.rowcount == 1


_STAGE = ("CREATE TEMP TABLE import_staging (ord int, email text, profile jsonb, consent jsonb) "
          "ON COMMIT DROP")
# The leads that are new. Their lead.created events are built from the stored rows in Python,
# not in SQL: personal fields must be sealed under each lead's key (leadloop.keyring) on their way
# into the outbox, like every other event's.
_INSERT_NEW = text("""
WITH inserted AS (
    INSERT INTO leads (id, email, profile, consent, source)
    SELECT gen_random_uuid(), s.email, s.profile, s.consent, CAST(:source AS jsonb)
    FROM import_staging s ORDER BY s.email
    ON CONFLICT (email) DO NOTHING
    RETURNING id, email, profile, consent
)
SELECT s.ord, i.id, i.profile, i.consent
FROM import_staging s LEFT JOIN inserted i ON i.email = s.email
""").columns(ord=Integer, id=PG_UUID(as_uuid=True), profile=JSONB, consent=JSONB)


async def insert_staged_leads(conn: AsyncConnection, records: list[tuple[int, str, str, str]],
                              source_json: str) -> list[StagedRow]:
    """COPY (index, email, profile JSON, consent JSON) records into a staging table and insert
    the leads whose email is new, in one statement; every record's outcome."""
    await conn.execute(text(_STAGE))
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.copy_records_to_table("import_staging",
                                    columns=["ord", "email", "profile", "consent"],
                                    records=records)
    result = await conn.execute(_INSERT_NEW, {"source": source_json})
    return [StagedRow(index, lead_id, profile, consent)
            for index, lead_id, profile, consent in result.all()]
