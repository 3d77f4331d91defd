"""The scoring model in force, and its learned model, kept in memory.

Event handlers read the model through `IN_FORCE`: loaded once and reloaded when its version
query (active version, when it was activated, its latest training) changes, checked at most
once a second, so every replica scores under a new version or training within a second.
Activating a version or storing a training here calls `IN_FORCE.invalidate()`.

Re-score jobs, training and the admin API read the stored rows in their own transaction
instead (`active_model`, `trained_model`): they run per job batch or request, not per event.
"""

from collections.abc import Hashable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.reference import Reference
from scoring.learning.domain import TrainedModel
from scoring.models import repository
from scoring.rules.domain import ScoringModel

# A version's rules never change once stored, so a parsed version can be kept for the process's
# life; only which version is active is looked up. Likewise a training, by its id.
_parsed_models: dict[int, ScoringModel] = {}
_trainings: dict[int, TrainedModel] = {}


@dataclass(frozen=True, slots=True)
class ExpansionInForce:
    """The active expansion model (scores customers since their last won deal) and its
    learned model, when trained."""

    model: ScoringModel
    trained: TrainedModel | None


@dataclass(frozen=True, slots=True)
class ModelInForce:
    """The active version's rules and, when it learns and has been trained, its learned model;
    and the active expansion model, if one is active."""

    model: ScoringModel
    trained: TrainedModel | None
    expansion: ExpansionInForce | None = None


async def model_version(conn: AsyncConnection, version: int) -> ScoringModel:
    """A stored model version, parsed once per process."""
    model = _parsed_models.get(version)
    if model is None:
        config = await repository.model_config(conn, version)
        model = _parsed_models.setdefault(version, ScoringModel(version, config))
    return model


async def active_model(conn: AsyncConnection) -> ScoringModel:
    """The (qualification) scoring model in force, as stored now."""
    version = await repository.active_model_version(conn)
    if version is None:
        raise RuntimeError("no active scoring model; migration 0001 seeds version 1")
    return await model_version(conn, version)


async def active_expansion(conn: AsyncConnection) -> ExpansionInForce | None:
    """The expansion model in force and its training, or None when none is active."""
    version = await repository.active_model_version(conn, "expansion")
    if version is None:
        return None
    model = await model_version(conn, version)
    return ExpansionInForce(model, await trained_model(conn, model))


async def trained_model(conn: AsyncConnection, model: ScoringModel) -> TrainedModel | None:
    """The latest learned model of a version that learns, or None (not configured or trained)."""
    if model.config.learning is None:
        return None
    training_id = await repository.latest_training_id(conn, model.version)
    return None if training_id is None else await _training(conn, training_id)


async def _training(conn: AsyncConnection, training_id: int) -> TrainedModel:
    trained = _trainings.get(training_id)
    if trained is None:
        trained = _trainings.setdefault(training_id,
                                        await repository.training_model(conn, training_id))
    return trained


async def _in_force_version(conn: AsyncConnection) -> Hashable:
    return await repository.in_force_version(conn)


async def _load_in_force(conn: AsyncConnection) -> ModelInForce:
    model = await active_model(conn)
    return ModelInForce(model, await trained_model(conn, model), await active_expansion(conn))


IN_FORCE: Reference[ModelInForce] = Reference(_load_in_force, _in_force_version)
"""The model event handlers score with (see the module docstring)."""


def forget_models() -> None:
    """Drop every parsed version and training (tests that switch databases in one process)."""
    _parsed_models.clear()
    _trainings.clear()
    IN_FORCE.invalidate()
