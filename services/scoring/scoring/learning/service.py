"""Use cases of learning from outcomes: train and evaluate a version, backtest a version."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.db import UnitOfWork
from leadloop.events.models import Consent, LeadProfile, LeadSource
from scoring.exceptions import NotTrainable
from scoring.leads import repository as lead_repository
from scoring.learning import repository
from scoring.learning.backtest import ReplayLead, backtest
from scoring.learning.domain import Example, explain, raw_features, train
from scoring.learning.expansion import Purchase, repeat_examples
from scoring.learning.repository import StoredOutcome
from scoring.models import repository as model_repository
from scoring.models import service as model_service
from scoring.models.in_force import IN_FORCE, active_model, model_version, trained_model
from scoring.rules.domain import ScoringModel, score_lead
from scoring.rules.lead_fields import LeadFields
from scoring.tables import decoded_json


def _part(snapshot: dict[str, Any], name: str, stored: Any) -> Any:
    """The outcome's snapshot of a part of the lead when it has one, else the stored one."""
    value = snapshot.get(name)
    return stored if value is None else value


async def training_examples(conn: AsyncConnection, model: ScoringModel,
                            closed_from: datetime | None = None,
                            closed_to: datetime | None = None) -> list[Example]:
    """Every outcome closed in the period as an example: features and rules-only score as of
    its closing (won deals positive; lost deals and leads closed not converted negative).
    An expansion model's examples are the won deals closed in the period instead, labelled by
    whether the customer won another deal within the model's repeat window."""
    learning = model.config.learning
    if learning is None:
        raise NotTrainable(f"model version {model.version} has no learning configuration")
    if model.config.kind == "expansion":
        # The repeat that labels a purchase may close after the period: every won deal counts.
        won = [row for row in await repository.outcomes_with_profiles(conn)
               if row.outcome == "won"]
        purchases = [Purchase(row.lead_id, row.closed_at, fields) for row in won
                     if (fields := _fields_of(row)) is not None]
        activities = await lead_repository.activities_of(
            conn, list({p.lead_id for p in purchases}))
        return repeat_examples(model, purchases, activities, datetime.now(UTC),
                               closed_from, closed_to)
    rows = await repository.outcomes_with_profiles(conn, closed_from, closed_to)
    activities = await lead_repository.activities_of(conn, list({row.lead_id for row in rows}))
    examples = []
    window = model.config.decay.window_days
    for row in rows:
        fields = _fields_of(row)
        if fields is None:
            continue  # erased, or closed before scoring ever saw the lead
        before = [a for a in activities.get(row.lead_id, []) if a.occurred_at <= row.closed_at]
        rules = score_lead(model, fields.profile, before, row.closed_at,
                           consent=fields.consent, source=fields.source).score
        examples.append(Example(
            lead_id=row.lead_id, won=row.outcome == "won", rules_score=rules,
            raw=raw_features(learning, fields, before, row.closed_at, window),
            outcome=row.outcome,
        ))
    return examples


def _fields_of(row: StoredOutcome) -> LeadFields | None:
    """An outcome's lead as it was known: its snapshot, else the stored lead; None when
    erased or closed before scoring ever saw the lead."""
    snapshot = row.features or {}
    stored = _part(snapshot, "profile", row.profile)
    if stored is None:
        return None
    consent, source = _part(snapshot, "consent", row.consent), \
        _part(snapshot, "source", row.source)
    return LeadFields(LeadProfile.model_validate(stored),
                      None if consent is None else Consent.model_validate(consent),
                      None if source is None else LeadSource.model_validate(source))


async def train_version(uow: UnitOfWork, version: int, closed_from: datetime | None = None,
                        closed_to: datetime | None = None) -> tuple[int, dict[str, Any]]:
    """Train a version's learned model on the outcomes closed in the period (default: all);
    its training id and evaluation.

    Training the active version also starts re-scoring every lead under the new weights.
    """
    model = await model_version(uow.connection, version)
    examples = await training_examples(uow.connection, model, closed_from, closed_to)
    assert model.config.learning is not None  # training_examples checked it
    try:
        # scikit-learn holds the GIL less than pure Python; a thread keeps the API answering.
        result = await asyncio.to_thread(train, model.config.learning, examples)
    except ValueError as exc:
        period = "" if closed_from is None and closed_to is None else \
            f" (outcomes closed from {closed_from or 'the start'} to {closed_to or 'now'})"
        raise NotTrainable(f"{exc}{period}") from exc
    result["evaluation"]["period"] = {
        "closed_from": None if closed_from is None else closed_from.isoformat(),
        "closed_to": None if closed_to is None else closed_to.isoformat()}
    training_id = await model_repository.insert_training(
        uow.connection, version, len(examples), result["model"], result["evaluation"])
    IN_FORCE.invalidate()  # this replica's handlers predict with it from their next batch
    await model_service.start_training_rescore(uow, version)
    return training_id, result["evaluation"]


async def explain_probability(conn: AsyncConnection, model: ScoringModel, fields: LeadFields,
                              lead_id: Any, now: datetime) -> list[dict[str, Any]]:
    """Each feature's part of a lead's learned probability now (empty when the version does
    not learn or was never trained)."""
    learning = model.config.learning
    trained = await trained_model(conn, model)
    if learning is None or trained is None:
        return []
    since = now - timedelta(days=model.config.decay.window_days)
    activities = (await lead_repository.activities_of(conn, [lead_id], since)).get(lead_id, [])
    raw = raw_features(learning, fields, activities, now, model.config.decay.window_days)
    return explain(trained, raw)


async def retrain_if_due(uow: UnitOfWork) -> int | None:
    """Train the active version when it learns, has enough deals and new ones since last time."""
    conn = uow.connection
    model = await active_model(conn)
    if model.config.learning is None:
        return None
    latest = await model_repository.latest_training(conn, model.version)
    since = None if latest is None else latest.trained_at
    if await repository.outcome_count(conn, since) == 0:
        return None
    if await repository.outcome_count(conn) < model.config.learning.min_outcomes:
        return None
    training_id, _ = await train_version(uow, model.version)
    return training_id


async def backtest_version(uow: UnitOfWork, version: int) -> dict[str, Any]:
    """Replay every stored lead and outcome under a version; nothing is stored or sent."""
    started = time.perf_counter()
    conn = uow.connection
    model = await model_version(conn, version)
    trained = await trained_model(conn, model)
    rows = await repository.replay_leads(conn)
    loaded = time.perf_counter()

    def replay() -> dict[str, Any]:
        leads = (ReplayLead(
            lead_id=row.lead_id,
            # Stored profiles were validated when they arrived; building them unchecked is
            # what lets 100,000 leads replay in seconds.
            profile=LeadProfile.model_construct(**decoded_json(row.profile)),
            created_at=float(row.created_at),
            activities=list(zip(row.kinds, row.urls or [], row.times or [], row.seconds or [],
                                strict=True))
            if row.kinds else [],
            outcome=row.outcome,
            consent_withdrawn=frozenset(decoded_json(row.consent_withdrawn)),
            consent=None if row.consent is None
            else Consent.model_construct(**decoded_json(row.consent)),
            source=None if row.source is None
            else LeadSource.model_construct(**decoded_json(row.source)),
            numbers=[None if n is None else decoded_json(n) for n in row.numbers or ()]
            if row.kinds else (),
        ) for row in rows)
        return backtest(model, leads, trained)

    report = await asyncio.to_thread(replay)
    report["load_seconds"] = round(loaded - started, 3)
    report["replay_seconds"] = round(time.perf_counter() - loaded, 3)
    return report
