"""Scoring's background workers: re-score jobs (activation, decay) and scheduled retraining.

Each step is one transaction; a failure is logged and retried on the next tick, so a database
outage pauses the work rather than ending it.
"""

import asyncio
import importlib
import logging

from leadloop.app import Runtime
from scoring import learning_service, model_service
from scoring.config import ScoringSettings

log = logging.getLogger(__name__)


def _settings(runtime: Runtime) -> ScoringSettings:
    settings = runtime.settings
    assert isinstance(settings, ScoringSettings)
    return settings


async def rescore_worker(runtime: Runtime) -> None:
    """Run re-score jobs batch by batch; start a decay job when one is due."""
    settings = _settings(runtime)
    while True:
        more = False
        try:
            async with runtime.unit_of_work() as uow:
                await model_service.start_decay_job(uow, settings.decay_rescore_interval_s)
                await uow.commit()
            async with runtime.unit_of_work() as uow:
                more = await model_service.rescore_batch(uow, settings.rescore_batch_size)
                await uow.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("re-score step failed; retrying")
        if not more:
            await asyncio.sleep(settings.rescore_poll_interval_s)


async def training_worker(runtime: Runtime) -> None:
    """Retrain the active version on a schedule once enough deals have closed."""
    settings = _settings(runtime)
    # scikit-learn takes seconds to import: do it now, off the event loop, rather than inside
    # the first training request.
    await asyncio.to_thread(importlib.import_module, "sklearn.linear_model")
    while True:
        await asyncio.sleep(settings.train_interval_s)
        try:
            async with runtime.unit_of_work() as uow:
                training_id = await learning_service.retrain_if_due(uow)
                await uow.commit()
            if training_id is not None:
                log.info("retrained the active scoring model (training %s)", training_id)
        except asyncio.CancelledError:
            raise
        except learning_service.NotTrainable as exc:
            log.info("scheduled training skipped: %s", exc)
        except Exception:
            log.exception("scheduled training failed; retrying at the next interval")
