"""The import worker: on every replica, applies running imports nobody else is applying (an
upload wakes it; it also looks every `import_resume_interval_s`, e.g. after a crash).

A session advisory lock on a connection of its own (released by PostgreSQL when the holder's
connection dies) makes sure only one process applies a given import at a time.
"""

from uuid import UUID

import asyncpg

from capture.config import CaptureSettings
from capture.imports import repository
from capture.imports.service import WAKEUP, run_import
from leadloop.app import Runtime, settings_of
from leadloop.worker import run_worker

# First key of the two-key advisory lock: this namespace is capture's imports.
_LOCK_NAMESPACE = 0x1E4D


async def resume_imports(runtime: Runtime) -> None:
    """Background worker: apply running imports, at once when an upload wakes it."""
    await run_worker(runtime, "imports", run_running_imports, wake_on=WAKEUP,
                     interval_s=settings_of(runtime, CaptureSettings).import_resume_interval_s)


async def run_running_imports(runtime: Runtime) -> bool:
    """One round: apply every running import no other process is applying. Never "did work":
    it ran what there was, and a new upload wakes the worker."""
    async with runtime.unit_of_work() as uow:
        running = await repository.running_import_ids(uow.connection)
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
