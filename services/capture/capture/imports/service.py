"""Bulk import: the CSV is stored in PostgreSQL before the 202, then applied chunk by chunk.

Each chunk is one transaction: its rows, their events in the outbox and the import's progress
commit together, so an import interrupted by a crash or a restart resumes after the last
committed chunk without duplicating a lead or an event. A worker on every replica looks for
running imports; a session advisory lock (released by PostgreSQL when the holder's connection
dies) makes sure only one process applies a given import at a time.
"""

import asyncio
import csv
import io
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any
from uuid import UUID

import asyncpg
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from capture.config import CaptureSettings
from capture.imports.chunks import PreparedChunk, apply_chunk, prepare_chunk
from capture.imports.domain import UnreadableRow, detect_delimiter
from capture.tables import import_parts, imports
from leadloop.app import Runtime, settings_of
from leadloop.db import UnitOfWork
from leadloop.retry import is_transient
from leadloop.worker import run_worker

log = logging.getLogger(__name__)
PART_BYTES = 1 << 20
WAKEUP = "imports"
# First key of the two-key advisory lock: this namespace is capture's imports.
_LOCK_NAMESPACE = 0x1E4D


def csv_rows(file: IO[bytes]) -> Iterator[dict[str, str] | UnreadableRow]:
    """The CSV's rows as dicts keyed by header, or UnreadableRow for one the reader cannot
    parse. The upload route stored the file as UTF-8 (checked, or transcoded from the declared
    charset); the separator is read from the header line."""
    file.seek(0)
    delimiter = detect_delimiter(file.readline().decode("utf-8-sig", errors="replace"))
    file.seek(0)
    # newline="" hands line endings to the csv module, as its documentation asks.
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
    try:
        reader = csv.DictReader(text, delimiter=delimiter)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # the reader goes on with the next line
                yield UnreadableRow(str(exc))
                continue
            yield row
    finally:
        text.detach()  # the caller's file stays open


async def save_upload(uow: UnitOfWork, import_id: UUID, file: IO[bytes],
                      mapping: dict[str, str], campaign: str | None) -> None:
    """Record a new running import and store its CSV in parts (same transaction)."""
    conn = uow.connection
    await conn.execute(insert(imports).values(id=import_id, status="running", mapping=mapping,
                                              campaign=campaign))
    file.seek(0)
    part = 0
    while block := file.read(PART_BYTES):
        await conn.execute(insert(import_parts).values(import_id=import_id, part=part,
                                                       data=block))
        part += 1


async def get_import(uow: UnitOfWork, import_id: UUID) -> Any | None:
    """An import's progress row, or None."""
    return (await uow.connection.execute(
        select(imports).where(imports.c.id == import_id))).one_or_none()


async def resume_imports(runtime: Runtime) -> None:
    """Background worker: apply running imports, at once when an upload wakes it."""
    await run_worker(runtime, "imports", run_running_imports, wake_on=WAKEUP,
                     interval_s=settings_of(runtime, CaptureSettings).import_resume_interval_s)


async def run_running_imports(runtime: Runtime) -> bool:
    """One round: apply every running import no other process is applying. Never "did work":
    it ran what there was, and a new upload wakes the worker."""
    async with runtime.unit_of_work() as uow:
        running = list((await uow.connection.scalars(
            select(imports.c.id).where(imports.c.status == "running")
            .order_by(imports.c.created_at))).all())
    for import_id in running:
        if runtime.stopping.is_set():
            break
        await _run_if_free(runtime, import_id)
    return False


async def _run_if_free(runtime: Runtime, import_id: UUID) -> None:
    # A dedicated connection outside the pool: if this process dies, PostgreSQL ends the
    # session and the lock with it, and another replica (or this one, restarted) takes over.
    lock = await asyncpg.connect(runtime.settings.asyncpg_dsn)
    try:
        key = int.from_bytes(import_id.bytes[:4], "big", signed=True)
        if not await lock.fetchval("SELECT pg_try_advisory_lock($1, $2)", _LOCK_NAMESPACE, key):
            return
        await run_import(runtime, import_id)
    finally:
        await lock.close()


async def run_import(runtime: Runtime, import_id: UUID) -> None:
    """Apply an import from its last committed chunk to the end (caller holds its lock)."""
    async with runtime.unit_of_work() as uow:
        row = await get_import(uow, import_id)
    if row is None or row.status != "running":
        return  # another process finished it meanwhile
    chunk_rows = settings_of(runtime, CaptureSettings).import_chunk_rows
    status = "completed"
    try:
        with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as file:
            timer = _Timer()
            with timer.waiting("restore"):
                await _restore(runtime, import_id, file)
            done = row.rows_total
            rows = csv_rows(file)
            # Parsing runs in a thread, one chunk ahead of the database work, so the two overlap
            # and the event loop stays free for requests. Rows of committed chunks are skipped.
            pending = asyncio.create_task(asyncio.to_thread(
                _skip_then_prepare, rows, done, chunk_rows, row.mapping, row.campaign))
            while True:
                with timer.waiting("prepare"):
                    chunk: PreparedChunk = await pending
                if chunk.row_count == 0:
                    break
                if runtime.stopping.is_set():
                    return  # shutting down: the next start resumes from `done`
                pending = asyncio.create_task(asyncio.to_thread(
                    prepare_chunk, rows, done + chunk.row_count + 2, chunk_rows, row.mapping,
                    row.campaign))
                with timer.waiting("write"):
                    await apply_chunk(runtime, import_id, done, chunk, row.campaign)
                done += chunk.row_count
            log.info("import %s: %d rows; waited %s", import_id, done, timer)
    except Exception as exc:
        if is_transient(exc):
            raise  # database away: the import stays running and is resumed, not failed
        log.exception("import %s failed", import_id)
        status = "failed"
    async with runtime.unit_of_work() as uow:
        await uow.connection.execute(update(imports).where(imports.c.id == import_id)
                                     .values(status=status, finished_at=func.now()))
        await uow.connection.execute(delete(import_parts)
                                     .where(import_parts.c.import_id == import_id))
        await uow.commit()


def _skip_then_prepare(rows: Iterator[dict[str, str] | UnreadableRow], done: int, size: int,
                       mapping: dict[str, str], campaign: str | None) -> PreparedChunk:
    for _ in range(done):
        next(rows, None)
    return prepare_chunk(rows, done + 2, size, mapping, campaign)  # row 1 is the header


class _Timer:
    """Seconds spent waiting on each stage: where an import's time goes, for the log."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def waiting(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def __str__(self) -> str:
        return ", ".join(f"{s} {v:.2f} s" for s, v in self.seconds.items())


async def _restore(runtime: Runtime, import_id: UUID, file: IO[bytes]) -> None:
    """Copy the stored CSV into a local spool, one part at a time."""
    async with runtime.unit_of_work() as uow:
        parts = list((await uow.connection.scalars(
            select(import_parts.c.part).where(import_parts.c.import_id == import_id)
            .order_by(import_parts.c.part))).all())
        for part in parts:
            file.write(await uow.connection.scalar(select(import_parts.c.data).where(
                import_parts.c.import_id == import_id, import_parts.c.part == part)))
