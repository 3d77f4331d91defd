"""Use cases about model versions: create, activate, re-score every lead in resumable batches."""

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from scoring.exceptions import ActivationRefused
from scoring.leads import repository as lead_repository
from scoring.leads.rescoring import rescore
from scoring.models import repository
from scoring.models.in_force import (
    IN_FORCE,
    active_expansion,
    active_model,
    model_version,
    trained_model,
)
from scoring.rules.model_config import ScoringModelConfig

ACTIVATION = "activation"
DECAY = "decay"
TRAINING = "training"


async def create_model(uow: UnitOfWork, name: str, config: ScoringModelConfig) -> int:
    """Store a new version; it scores nothing until activated."""
    return await repository.create_model(uow.connection, name,
                                               config.model_dump(mode="json"))


async def check_activatable(conn: AsyncConnection, version: int) -> None:
    """Refuse a version whose MQL definition requires a win probability it cannot give: not
    in shadow, with a minimum probability, but no learning configured or never trained. In
    force, it would qualify leads by the rules alone, and qualification sticks."""
    config = (await model_version(conn, version)).config
    minimum = config.mql.min_probability
    if minimum is None or (config.learning is not None and config.learning.shadow):
        return
    if config.learning is None:
        raise ActivationRefused(
            f"model version {version} requires mql.min_probability {minimum:g} but has no "
            f"learning configuration to predict it: add learning, or remove the minimum")
    if await repository.latest_training_id(conn, version) is None:
        raise ActivationRefused(
            f"model version {version} requires mql.min_probability {minimum:g} but has never "
            f"been trained: POST /v1/models/{version}/train first (or set learning.shadow to "
            f"show the probability without letting it decide)")


async def activate_model(uow: UnitOfWork, version: int) -> int:
    """Make a version the active one and start re-scoring every lead under it; the job id.
    Raises ActivationRefused for a version that needs a training it does not have."""
    conn = uow.connection
    await check_activatable(conn, version)
    await repository.activate_model(conn, version, event_time_now())
    IN_FORCE.invalidate()  # this replica's handlers score under it from their next batch
    return await _rescore_every_lead(conn, version, ACTIVATION)


async def start_training_rescore(uow: UnitOfWork, version: int) -> int | None:
    """After a training of the active version, re-score every lead so each shows the new
    probability (and a minimum probability in the MQL definition applies to all); the job id,
    or None when the version trained is not the active one (its activation re-scores)."""
    conn = uow.connection
    if version not in (await repository.active_model_version(conn),
                       await repository.active_model_version(conn, "expansion")):
        return None
    return await _rescore_every_lead(conn, version, TRAINING)


async def _rescore_every_lead(conn: AsyncConnection, version: int, reason: str) -> int:
    """Start a job that re-scores every scorable lead under `version`; its id."""
    total = await repository.count_scorable(conn)
    return await repository.start_job(conn, version, reason, total)


async def start_decay_job(uow: UnitOfWork, interval_s: float) -> int | None:
    """Re-score engaged leads, so decay shows without new events; at most once per interval."""
    conn = uow.connection
    last = await repository.last_job_start(conn, DECAY)
    if last is not None and event_time_now() - last < timedelta(seconds=interval_s):
        return None
    if await repository.running_job(conn) is not None:
        return None  # a running job rescored (or will rescore) everyone anyway
    model = await active_model(conn)
    total = await repository.count_scorable(conn, engaged_only=True)
    return await repository.start_job(conn, model.version, DECAY, total)


async def rescore_batch(uow: UnitOfWork, batch_size: int) -> bool:
    """Re-score the running job's next batch of leads; whether more batches remain.

    The batch's scores, history, events and the job's cursor commit together, so a job
    interrupted anywhere resumes after the last committed batch and never sends twice.
    """
    conn = uow.connection
    job = await repository.running_job(conn)
    if job is None:
        return False
    model = await active_model(conn)
    trained = await trained_model(conn, model)
    expansion = await active_expansion(conn)
    now = event_time_now()
    batch = await repository.lock_lead_batch(conn, job.cursor, batch_size,
                                                   engaged_only=job.reason == DECAY)
    since = now - timedelta(days=model.config.decay.window_days)
    activities = await lead_repository.activities_of(conn, [lead.lead_id for lead in batch],
                                                      since)
    updates: list[tuple[Any, dict[str, Any]]] = []
    history = []
    for lead in batch:
        outcome = rescore(lead, model, trained, activities.get(lead.lead_id, []), now,
                          expansion=expansion)
        updates.append((lead.lead_id, outcome.values))
        if outcome.history is not None:
            history.append((lead.lead_id, outcome.history, None, now))
        for event in outcome.events:
            uow.publish(event)
    await repository.update_leads(conn, updates)
    await lead_repository.insert_history(await uow.driver(), history)
    cursor = batch[-1].lead_id if batch else job.cursor
    finished = len(batch) < batch_size
    await repository.advance_job(conn, job.id, cursor, len(batch), finished=finished)
    return not finished
