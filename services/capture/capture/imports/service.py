"""Bulk import: the CSV is stored in PostgreSQL before the 202, then applied chunk by chunk.

Each chunk is one transaction: its rows, their events in the outbox and the import's progress
commit together, so an import interrupted by a crash or a restart resumes after the last
committed chunk without duplicating a lead or an event. A worker on every replica looks for
running imports; a session advisory lock (released by PostgreSQL when the holder's connection
dies) makes sure only one process applies a given import at a time (capture.imports.worker).
"""

import asyncio
import csv
import io
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from uuid import UUID

from capture.config import CaptureSettings
from capture.imports import repository
from capture.imports.chunks import PreparedChunk, apply_chunk, prepare_chunk
from capture.imports.domain import UnreadableRow, detect_delimiter
from leadloop.app import Runtime, settings_of
from leadloop.db import UnitOfWork
from leadloop.retry import is_transient

log = logging.getLogger(__name__)
PART_BYTES = 1 << 20
WAKEUP = "imports"
"""The wake-up an upload sets, so the import worker starts on it at once."""


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
    await repository.create_import(uow.connection, import_id, mapping, campaign)
    file.seek(0)
    part = 0
    while block := file.read(PART_BYTES):
        await repository.add_part(uow.connection, import_id, part, block)
        part += 1


async def run_import(runtime: Runtime, import_id: UUID) -> None:
    """Apply an import from its last committed chunk to the end (caller holds its lock)."""
    async with runtime.unit_of_work() as uow:
        row = await repository.get_import(uow.connection, import_id)
    if row is None or row.progress.status != "running":
        return  # another process finished it meanwhile
    chunk_rows = settings_of(runtime, CaptureSettings).import_chunk_rows
    status = "completed"
    try:
        with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as file:
            timer = _Timer()
            with timer.waiting("restore"):
                await _restore(runtime, import_id, file)
            done = row.progress.rows_total
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
        await repository.finish_import(uow.connection, import_id, status)
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
        for part in await repository.part_numbers(uow.connection, import_id):
            file.write(await repository.part_data(uow.connection, import_id, part))
