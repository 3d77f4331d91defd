"""Periodic purges: Idempotency-Key answers past their retention, spent rate-limit windows.

Durable and safe with replicas: what to delete is decided by the rows' own timestamps in
PostgreSQL, never by what a process remembers, so a purge missed while a process was down is
caught up by the next one, and two replicas purging at once only delete the same rows.
"""

import logging

from capture.config import CaptureSettings
from capture.idempotency import repository as idempotency_repository
from leadloop import ratelimit
from leadloop.app import Runtime, settings_of
from leadloop.worker import run_worker

log = logging.getLogger(__name__)
PURGE_BATCH = 5000


async def purge_idempotency_keys(runtime: Runtime, retention_hours: float) -> int:
    """Delete keys older than the retention, in short batches; returns how many went."""
    total = 0
    while True:
        async with runtime.engine.begin() as conn:
            deleted = await idempotency_repository.purge_answers(
                conn, float(retention_hours) * 3600.0, PURGE_BATCH)
        total += deleted
        if deleted < PURGE_BATCH:
            return total


async def purge(runtime: Runtime) -> bool:
    """One round of purges. Never "did work": each purge removes all there is, so the next
    round waits an interval."""
    settings = settings_of(runtime, CaptureSettings)
    keys = await purge_idempotency_keys(runtime, settings.idempotency_retention_hours)
    windows = await ratelimit.purge_old_windows(runtime.engine)
    if keys or windows:
        log.info("purged %d idempotency keys, %d rate-limit windows", keys, windows)
    return False


async def housekeeping(runtime: Runtime) -> None:
    """Background worker: run the purges every `housekeeping_interval_s`."""
    await run_worker(runtime, "housekeeping", purge,
                     interval_s=settings_of(runtime, CaptureSettings).housekeeping_interval_s)
