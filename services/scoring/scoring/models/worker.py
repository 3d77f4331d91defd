"""Scoring's re-score worker: runs re-score jobs (activation, training, decay) batch by batch.

Each round is one or two transactions, run by the shared worker loop: a failure is logged,
backed off and retried, so a database outage pauses the work rather than ending it.
"""

from leadloop.app import Runtime, settings_of
from leadloop.worker import run_worker
from scoring.config import ScoringSettings
from scoring.models import service

RESCORE_WAKEUP = "scoring.rescore"


def wake_rescore(runtime: Runtime) -> None:
    """Start re-scoring now (a job was just created here), not at the next poll."""
    runtime.wakeup(RESCORE_WAKEUP).set()


async def rescore_round(runtime: Runtime) -> bool:
    """Start a decay job when one is due, then re-score one batch; True while more are left."""
    settings = settings_of(runtime, ScoringSettings)
    async with runtime.unit_of_work() as uow:
        await service.start_decay_job(uow, settings.decay_rescore_interval_s)
        await uow.commit()
    async with runtime.unit_of_work() as uow:
        more = await service.rescore_batch(uow, settings.rescore_batch_size)
        await uow.commit()
    return more


async def rescore_worker(runtime: Runtime) -> None:
    """Run re-score jobs batch by batch; start a decay job when one is due."""
    await run_worker(runtime, "rescore", rescore_round, wake_on=RESCORE_WAKEUP,
                     interval_s=settings_of(runtime, ScoringSettings).rescore_poll_interval_s)
