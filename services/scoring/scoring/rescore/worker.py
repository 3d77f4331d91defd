"""Scoring's background workers: re-score jobs (activation, decay) and scheduled retraining.

Each round is one or two transactions, run by the shared worker loop: a failure is logged,
backed off and retried, so a database outage pauses the work rather than ending it.
"""

import asyncio
import importlib
import logging

from leadloop.app import Runtime, settings_of
from leadloop.worker import run_worker
from scoring.config import ScoringSettings
from scoring.learning import service as learning_service
from scoring.models import service as model_service

log = logging.getLogger(__name__)
RESCORE_WAKEUP = "scoring.rescore"


def wake_rescore(runtime: Runtime) -> None:
    """Start re-scoring now (a job was just created here), not at the next poll."""
    runtime.wakeup(RESCORE_WAKEUP).set()


async def rescore_round(runtime: Runtime) -> bool:
    """Start a decay job when one is due, then re-score one batch; True while more are left."""
    settings = settings_of(runtime, ScoringSettings)
    async with runtime.unit_of_work() as uow:
        await model_service.start_decay_job(uow, settings.decay_rescore_interval_s)
        await uow.commit()
    async with runtime.unit_of_work() as uow:
        more = await model_service.rescore_batch(uow, settings.rescore_batch_size)
        await uow.commit()
    return more


async def rescore_worker(runtime: Runtime) -> None:
    """Run re-score jobs batch by batch; start a decay job when one is due."""
    await run_worker(runtime, "rescore", rescore_round, wake_on=RESCORE_WAKEUP,
                     interval_s=settings_of(runtime, ScoringSettings).rescore_poll_interval_s)


async def training_round(runtime: Runtime) -> bool:
    """Retrain the active version if enough deals closed since its training. Never "did
    work": the next look is a schedule interval away."""
    try:
        async with runtime.unit_of_work() as uow:
            training_id = await learning_service.retrain_if_due(uow)
            await uow.commit()
    except learning_service.NotTrainable as exc:
        log.info("scheduled training skipped: %s", exc)
        return False
    if training_id is not None:
        log.info("retrained the active scoring model (training %s)", training_id)
        wake_rescore(runtime)
    return False


async def training_worker(runtime: Runtime) -> None:
    """Retrain the active version on a schedule once enough deals have closed."""
    # scikit-learn takes seconds to import: do it now, off the event loop, rather than inside
    # the first training request.
    await asyncio.to_thread(importlib.import_module, "sklearn.linear_model")
    await run_worker(runtime, "training", training_round, wait_first=True,
                     interval_s=settings_of(runtime, ScoringSettings).train_interval_s)
