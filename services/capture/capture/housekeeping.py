"""Periodic purges: Idempotency-Key answers past their retention, spent rate-limit windows.

Durable and safe with replicas: what to delete is decided by the rows' own timestamps in
PostgreSQL, never by what a process remembers, so a purge missed while a process was down is
caught up by the next one, and two replicas purging at once only delete the same rows.
"""

import asyncio
import logging

from sqlalchemy import text

from leadloop import ratelimit
from leadloop.app import Runtime

log = logging.getLogger(__name__)
PURGE_BATCH = 5000


# A batch at a time keeps each transaction short; SKIP LOCKED lets a replica purging at the same
# time (or a request replaying a key) go on without waiting.
_PURGE_KEYS = text("""
DELETE FROM idempotency_keys WHERE (scope, key) IN (
    SELECT scope, key FROM idempotency_keys
    WHERE created_at < now() - make_interval(secs => :retention_s)
    LIMIT :batch FOR UPDATE SKIP LOCKED)
""")


async def purge_idempotency_keys(runtime: Runtime, retention_hours: float) -> int:
    """Delete keys older than the retention, in short batches; returns how many went."""
    total = 0
    while True:
        async with runtime.engine.begin() as conn:
            deleted = (await conn.execute(_PURGE_KEYS, {
                "retention_s": float(retention_hours) * 3600.0, "batch": PURGE_BATCH})).rowcount
        total += deleted
        if deleted < PURGE_BATCH:
            return total


async def housekeeping(runtime: Runtime) -> None:
    """Background worker: run the purges every `housekeeping_interval_s`."""
    settings = runtime.settings
    interval = float(getattr(settings, "housekeeping_interval_s", 300.0))
    retention = float(getattr(settings, "idempotency_retention_hours", 24.0))
    while not runtime.stopping.is_set():
        try:
            keys = await purge_idempotency_keys(runtime, retention)
            windows = await ratelimit.purge_old_windows(runtime.engine)
            if keys or windows:
                log.info("purged %d idempotency keys, %d rate-limit windows", keys, windows)
        except Exception:  # database away: the next round catches up
            log.warning("housekeeping failed; retrying next round", exc_info=True)
        try:
            await asyncio.wait_for(runtime.stopping.wait(), interval)
        except TimeoutError:
            pass
