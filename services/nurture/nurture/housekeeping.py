"""Periodic purge of spent rate-limit windows (safe with replicas: the rows' own times decide)."""

import asyncio
import logging

from leadloop import ratelimit
from leadloop.app import Runtime

log = logging.getLogger(__name__)


async def housekeeping(runtime: Runtime) -> None:
    """Background worker: purge rate-limit windows every `housekeeping_interval_s`."""
    interval = float(getattr(runtime.settings, "housekeeping_interval_s", 300.0))
    while not runtime.stopping.is_set():
        try:
            if windows := await ratelimit.purge_old_windows(runtime.engine):
                log.info("purged %d rate-limit windows", windows)
        except Exception:  # database away: the next round catches up
            log.warning("housekeeping failed; retrying next round", exc_info=True)
        try:
            await asyncio.wait_for(runtime.stopping.wait(), interval)
        except TimeoutError:
            pass
