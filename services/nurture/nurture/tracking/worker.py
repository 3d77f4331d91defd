"""Periodic purge of spent rate-limit windows (safe with replicas: the rows' own times decide)."""

import logging

from leadloop import ratelimit
from leadloop.app import Runtime, settings_of
from leadloop.worker import run_worker
from nurture.config import NurtureSettings

log = logging.getLogger(__name__)


async def purge_windows(runtime: Runtime) -> bool:
    """One round: purge the rate-limit windows that are over. Never "did work": a purge
    removes all there is, so the next one waits an interval."""
    if windows := await ratelimit.purge_old_windows(runtime.engine):
        log.info("purged %d rate-limit windows", windows)
    return False


async def housekeeping(runtime: Runtime) -> None:
    """Background worker: purge rate-limit windows every `housekeeping_interval_s`."""
    await run_worker(runtime, "housekeeping", purge_windows,
                     interval_s=settings_of(runtime, NurtureSettings).housekeeping_interval_s)
