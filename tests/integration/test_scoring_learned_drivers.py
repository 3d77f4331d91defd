"""Scoring learns what drives conversion, against real PostgreSQL: generated consumer leads
where time on site, the UTM source and consent to email marketing decide who buys go through
the hot path (profiles, activities with seconds on page), close as won, lost or not converted
(lead.closed), and the trained model uses each driver the way the data says. Also: a version
gated on a probability is refused activation until trained; training scoped to a period; the
bulk score read states the last event applied."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.business_leads import GeneratedLead, generate
from leadloop.db import UnitOfWork, create_engine
from leadloop.events.models import DealClosed, LeadActivity, LeadClosed, event_time_now
from leadloop_devstack.stack import Stack
from scoring.leads import service
from scoring.leads.batch import ProfileSeen, activity_seen
from scoring.learning import service as learning_service
from scoring.learning.features import LearningConfig
from scoring.models import service as model_service
from scoring.models.in_force import forget_models
from scoring.models.templates import B2C_TEMPLATE
from scoring.scores import repository
from tests.integration.conftest import migrated_database

pytestmark = pytest.mark.asyncio

LEADS = 600
DRIVERS = LearningConfig.model_validate({"features": [
    {"kind": "engagement", "measure": "time_on_site", "window_days": 90, "bins": 4},
    {"kind": "categorical", "field": "source.utm_source"},
    {"kind": "categorical", "field": "consent.email_marketing"},
], "min_outcomes": 50, "holdout_share": 0.3})
GATED = B2C_TEMPLATE.model_copy(update={
    "learning": DRIVERS, "mql": B2C_TEMPLATE.mql.model_copy(update={"min_probability": 0.3})})


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh, migrated scoring database."""
    url = await migrated_database(stack, "scoring", "scoring_drivers")
    engine = create_engine(url, pool_size=2)
    forget_models()
    yield engine
    await engine.dispose()


def _events(lead: GeneratedLead) -> list[Any]:
    """What capture would have sent for the lead, through scoring's own input types."""
    inputs: list[Any] = [ProfileSeen(lead.lead_id, lead.profile, lead.consent, lead.created_at,
                                     f"created-{lead.lead_id}", lead.source,
                                     "leadloop.lead.created.v1")]
    for n, activity in enumerate(lead.activities):
        properties: dict[str, Any] = dict(activity.numbers or {})
        if activity.seconds is not None:
            properties["seconds_on_page"] = activity.seconds
        inputs.append(activity_seen(LeadActivity(
            lead_id=lead.lead_id, activity_id=activity.activity_id, kind=activity.kind,
            occurred_at=activity.occurred_at, url=activity.url, properties=properties),
            f"activity-{lead.lead_id}-{n}"))
    return inputs


async def _load(engine: AsyncEngine, leads: list[GeneratedLead]) -> None:
    for start in range(0, len(leads), 100):
        async with UnitOfWork(engine, "scoring") as uow:
            await service.apply_lead_events(uow, [seen for lead in leads[start:start + 100]
                                                  for seen in _events(lead)])
            await uow.commit()
    async with UnitOfWork(engine, "scoring") as uow:
        for lead in leads:
            assert lead.closed_at is not None
            if lead.outcome == "not_converted":
                await service.record_lead_closed(uow, LeadClosed(
                    lead_id=lead.lead_id, closure_id=uuid.uuid4(), reason="no_response",
                    closed_at=lead.closed_at), f"closed-{lead.lead_id}")
            else:
                await service.record_deal_outcome(uow, DealClosed(
                    lead_id=lead.lead_id, deal_id=uuid.uuid4(), external_id=str(lead.lead_id),
                    outcome=lead.outcome, amount_minor=9_900, currency="EUR",  # type: ignore[arg-type]
                    closed_at=lead.closed_at), f"deal-{lead.lead_id}")
        await uow.commit()


def _weights(evaluation: dict[str, Any]) -> dict[str, float]:
    return {c["feature"]: c["weight"] for c in evaluation["coefficients"]}


async def test_learned_model_uses_time_on_site_source_and_consent_as_they_drive_conversion(
        engine: AsyncEngine) -> None:
    now = event_time_now()
    leads = generate("consumer_subscription", LEADS, seed=11, now=now - timedelta(minutes=5))
    await _load(engine, leads)

    async with UnitOfWork(engine, "scoring") as uow:
        version = await model_service.create_model(uow, "learns drivers", GATED)
        with pytest.raises(model_service.ActivationRefused, match="never been trained"):
            await model_service.activate_model(uow, version)
        await uow.commit()

    async with UnitOfWork(engine, "scoring") as uow:
        _, evaluation = await learning_service.train_version(uow, version)
        await uow.commit()
    kinds = evaluation["outcomes_by_kind"]
    assert kinds["not_converted"] > kinds["lost"] > 0 and kinds["won"] > 0
    assert sum(kinds.values()) == LEADS
    print(f"\nheld-out AUC learned {evaluation['auc_learned']}, "
          f"rules {evaluation['auc_rules_only']}, Brier {evaluation['brier_learned']} "
          f"(base rate {evaluation['brier_base_rate']})")
    assert evaluation["auc_learned"] > 0.7
    assert evaluation["brier_learned"] < evaluation["brier_base_rate"]
    weights = _weights(evaluation)
    time_bins = sorted((float(name.split("[")[1].split(",")[0]), w)
                       for name, w in weights.items() if name.startswith("time_on_site"))
    assert len(time_bins) == 4 and time_bins[-1][1] > time_bins[0][1]  # more time, more wins
    assert weights["source.utm_source = google"] > weights["source.utm_source = facebook"]
    assert weights["consent.email_marketing = true"] > weights["consent.email_marketing = false"]

    # Trained, the gated version may go in force; every lead's score then carries it.
    async with UnitOfWork(engine, "scoring") as uow:
        await model_service.activate_model(uow, version)
        await uow.commit()
    async with UnitOfWork(engine, "scoring") as uow:
        while await model_service.rescore_batch(uow, 500):
            pass
        await uow.commit()
    async with engine.connect() as conn:
        rows = await repository.get_leads(conn, [lead.lead_id for lead in leads[:50]])
    assert all(row.model_version == version and row.win_probability is not None
               for row in rows.values())
    last = leads[0].activities[-1]
    assert rows[leads[0].lead_id].last_event_type == "leadloop.lead.activity.v1"
    assert rows[leads[0].lead_id].last_event_at == last.occurred_at


async def test_training_scoped_to_a_period_learns_only_from_outcomes_closed_in_it(
        engine: AsyncEngine) -> None:
    now = event_time_now()
    leads = generate("consumer_subscription", 300, seed=12, now=now - timedelta(minutes=5))
    await _load(engine, leads)
    closed = sorted(lead.closed_at for lead in leads if lead.closed_at is not None)
    middle = closed[len(closed) // 2]
    async with UnitOfWork(engine, "scoring") as uow:
        version = await model_service.create_model(uow, "period", GATED)
        _, evaluation = await learning_service.train_version(uow, version, closed_from=middle)
        await uow.commit()
    assert sum(evaluation["outcomes_by_kind"].values()) == sum(1 for c in closed if c >= middle)
    assert evaluation["period"]["closed_from"] == middle.isoformat()
    async with UnitOfWork(engine, "scoring") as uow:
        with pytest.raises(learning_service.NotTrainable, match="outcomes closed from"):
            await learning_service.train_version(uow, version, closed_from=now)
