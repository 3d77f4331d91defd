"""Use cases of learning from outcomes: train and evaluate a version, backtest a version."""

import asyncio
import time
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadProfile
from scoring import model_repository, model_service
from scoring.active_model import IN_FORCE, active_model, model_version, trained_model
from scoring.backtest import ReplayLead, backtest
from scoring.domain import ScoringModel, score_lead
from scoring.learning import Example, raw_features, train


class NotTrainable(Exception):
    """The version cannot be trained (no learning configured, too few or one-sided deals)."""


async def training_examples(conn: AsyncConnection, model: ScoringModel) -> list[Example]:
    """Every closed deal as an example: features and rules-only score as of its closing."""
    learning = model.config.learning
    if learning is None:
        raise NotTrainable(f"model version {model.version} has no learning configuration")
    rows = await model_repository.outcomes_with_profiles(conn)
    activities = await model_repository.activities_of(conn, list({row.lead_id for row in rows}))
    examples = []
    window = model.config.decay.window_days
    for row in rows:
        stored = (row.features or {}).get("profile") or row.profile
        if stored is None:
            continue  # erased, or closed before scoring ever saw the lead
        profile = LeadProfile.model_validate(stored)
        before = [a for a in activities.get(row.lead_id, []) if a.occurred_at <= row.closed_at]
        rules = score_lead(model, profile, before, row.closed_at).score
        examples.append(Example(
            lead_id=row.lead_id, won=row.outcome == "won", rules_score=rules,
            raw=raw_features(learning, profile, before, row.closed_at, window),
        ))
    return examples


async def train_version(uow: UnitOfWork, version: int) -> tuple[int, dict[str, Any]]:
    """Train a version's learned model on every closed deal; its training id and evaluation.

    Training the active version also starts re-scoring every lead under the new weights.
    """
    model = await model_version(uow.connection, version)
    examples = await training_examples(uow.connection, model)
    assert model.config.learning is not None  # training_examples checked it
    try:
        # scikit-learn holds the GIL less than pure Python; a thread keeps the API answering.
        result = await asyncio.to_thread(train, model.config.learning, examples)
    except ValueError as exc:
        raise NotTrainable(str(exc)) from exc
    training_id = await model_repository.insert_training(
        uow.connection, version, len(examples), result["model"], result["evaluation"])
    IN_FORCE.invalidate()  # this replica's handlers predict with it from their next batch
    await model_service.start_training_rescore(uow, version)
    return training_id, result["evaluation"]


async def retrain_if_due(uow: UnitOfWork) -> int | None:
    """Train the active version when it learns, has enough deals and new ones since last time."""
    conn = uow.connection
    model = await active_model(conn)
    if model.config.learning is None:
        return None
    latest = await model_repository.latest_training(conn, model.version)
    since = None if latest is None else latest.trained_at
    if await model_repository.outcome_count(conn, since) == 0:
        return None
    if await model_repository.outcome_count(conn) < model.config.learning.min_outcomes:
        return None
    training_id, _ = await train_version(uow, model.version)
    return training_id


async def backtest_version(uow: UnitOfWork, version: int) -> dict[str, Any]:
    """Replay every stored lead and outcome under a version; nothing is stored or sent."""
    started = time.perf_counter()
    conn = uow.connection
    model = await model_version(conn, version)
    trained = await trained_model(conn, model)
    rows = await model_repository.replay_leads(conn)
    loaded = time.perf_counter()

    def replay() -> dict[str, Any]:
        leads = (ReplayLead(
            lead_id=row["lead_id"],
            # Stored profiles were validated when they arrived; building them unchecked is
            # what lets 100,000 leads replay in seconds.
            profile=LeadProfile.model_construct(**_json(row["profile"])),
            created_at=float(row["created_at"]),
            activities=list(zip(row["kinds"], row["urls"], row["times"], row["seconds"],
                                strict=True))
            if row["kinds"] else [],
            outcome=row["outcome"],
            consent_withdrawn=frozenset(_json(row["consent_withdrawn"])),
        ) for row in rows)
        return backtest(model, leads, trained)

    report = await asyncio.to_thread(replay)
    report["load_seconds"] = round(loaded - started, 3)
    report["replay_seconds"] = round(time.perf_counter() - loaded, 3)
    return report


def _json(value: Any) -> Any:
    """A JSONB value read through the driver: decoded already, or JSON text."""
    return orjson.loads(value) if isinstance(value, str) else value
