"""Scoring's training worker: retrains the active version on a schedule once enough outcomes
have closed, then wakes the re-score worker so every lead shows the new probability."""

import asyncio
import importlib
import logging

from leadloop.app import Runtime, settings_of
from leadloop.worker import run_worker
from scoring.config import ScoringSettings
from scoring.exceptions import NotTrainable
from scoring.learning import service
from scoring.models.worker import wake_rescore

log = logging.getLogger(__name__)


async def training_round(runtime: Runtime) -> bool:
    """Retrain the active version if enough deals closed since its training. Never "did
    work": the next look is a schedule interval away."""
    try:
        async with runtime.unit_of_work() as uow:
            training_id = await service.retrain_if_due(uow)
            await uow.commit()
    except NotTrainable as exc:
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
