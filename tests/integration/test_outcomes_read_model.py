"""Outcomes' read model on real PostgreSQL: events folded in any order give the numbers computed
straight from the stories, and dropping and replaying gives identical reports."""

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import LeadErased
from leadloop.handlers import Item
from leadloop_devstack.stack import Stack
from outcomes import report_queries, repository, service
from outcomes.attribution import AttributeBy, Conversion, Model, Touch, attribute
from outcomes.domain import Stage
from outcomes.handlers import HANDLERS
from outcomes.markets import parse_market_by
from outcomes.reports import GroupBy, Period
from outcomes.tables import READ_MODEL_TABLES, touches
from tests.integration.conftest import migrated_engine
from tests.support.outcomes_stories import (
    MARKET_KEYS,
    MONTH_START,
    Story,
    expected_funnel,
    expected_markets,
    expected_rejections,
    expected_win_rate_by_response,
    generate_stories,
    story_events,
    story_facts,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

STORIES = generate_stories(300, seed=23)


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh outcomes database, migrated with the service's own Alembic migrations."""
    async with migrated_engine(stack, "outcomes", "outcomes_it") as engine:
        yield engine


def _envelopes(events: Sequence[EventData]) -> list[tuple[EventData, CloudEvent]]:
    return [(e, CloudEvent(type=event_type_of(e), source="test", subject=str(e.lead_id),  # type: ignore[attr-defined]
                           data={})) for e in events]


async def _apply(engine: AsyncEngine, events: list[tuple[EventData, CloudEvent]]) -> None:
    """Apply events through outcomes' handlers, 250 per transaction, as the runner batches."""
    for start in range(0, len(events), 250):
        async with UnitOfWork(engine, "outcomes") as uow:
            for event, envelope in events[start:start + 250]:
                await HANDLERS.apply(uow, [Item(event, envelope)])
            await uow.commit()


async def _all_reports(engine: AsyncEngine) -> dict[str, Any]:
    since, until = MONTH_START + timedelta(days=3), MONTH_START + timedelta(days=17)
    async with UnitOfWork(engine, "outcomes") as uow:
        return {
            "funnel": await service.funnel_breakdown(uow, None, None, None, Period.week),
            **{f"funnel_by_{by.value}": await service.funnel_breakdown(uow, None, None, by,
                                                                       Period.day)
               for by in GroupBy},
            "funnel_window": await service.funnel_breakdown(uow, since, until, GroupBy.source,
                                                            Period.week),
            "speed": await service.speed_to_lead(uow, None, None),
            "calibration": await service.score_calibration(uow, None, None),
            "rejections": await service.rejections(uow, None, None, Period.week),
            **{f"attribution_{m.value}_{b.value}": await service.attribution(
                uow, None, None, m, b, None) for m in Model for b in AttributeBy},
            **{f"markets_{by}": await service.markets(uow, None, None, parse_market_by(by),
                                                      Stage.won)
               for by in MARKET_KEYS},
            "facts": sorted(await report_queries.lead_facts(uow.connection, None, None),
                            key=lambda f: f.lead_id),
        }


def _differences(got: Sequence[Any], want: Sequence[Any]) -> list[tuple[Any, str, Any, Any]]:
    """(lead, field, got, wanted) for the first differing rows: a readable failure."""
    assert len(got) == len(want)
    found = []
    for g, w in zip(got, want, strict=True):
        for name in type(w).__dataclass_fields__:
            if getattr(g, name) != getattr(w, name):
                found.append((w.lead_id, name, getattr(g, name), getattr(w, name)))
    return found[:10]


def _without_ids(facts: Sequence[Any]) -> list[tuple[Any, ...]]:
    return sorted(tuple(str(v) for k, v in vars_of(f).items() if k != "lead_id")
                   for f in facts)


def vars_of(fact: Any) -> dict[str, Any]:
    """A dataclass with slots as a dict."""
    return {name: getattr(fact, name) for name in type(fact).__dataclass_fields__}


def _expected_attribution(stories: Sequence[Story], model: Model, by: AttributeBy) -> Any:
    touches, conversions = [], []
    for s in stories:
        if s.outcome != "won":
            continue
        conversions.append(Conversion(s.lead_id, 1, s.amount_minor, s.opened_at, s.mql_at))  # type: ignore[arg-type]
        touches.append(Touch(s.lead_id, f"created:{s.lead_id}", s.created_at, s.campaign,
                             s.utm_source or "form"))
        touches += [Touch(s.lead_id, str(uuid.uuid5(s.lead_id, f"touch{i}")), at, c, src or "form")
                    for i, (at, c, src) in enumerate(s.touches)]
    return attribute(touches, conversions, model, by)


async def test_events_in_any_order_give_the_directly_computed_numbers_and_replay_identically(
        engine: AsyncEngine) -> None:
    events = _envelopes([e for story in STORIES for e in story_events(story)])
    shuffled = random.Random(1).sample(events, len(events))
    await _apply(engine, shuffled)
    first = await _all_reports(engine)

    # Row by row, the read model holds exactly what happened to each lead.
    expected_rows = sorted((story_facts(s) for s in STORIES), key=lambda f: f.lead_id)
    assert _differences(first["facts"], expected_rows) == []

    # Every report matches the numbers computed straight from the stories.
    [funnel] = first["funnel"]
    want = expected_funnel(STORIES, lambda s: "all")["all"]
    assert funnel.counts == want["counts"]
    for step in funnel.steps:
        rate, count, median, p90 = want["steps"][(step.from_stage.value, step.to_stage.value)]
        assert (step.rate, step.time.count) == (rate, count)
        assert step.time.median_s == pytest.approx(median)
        assert step.time.p90_s == pytest.approx(p90)
    windowed = [s for s in STORIES
                if MONTH_START + timedelta(days=3) <= s.created_at < MONTH_START
                + timedelta(days=17)]
    by_source = expected_funnel(windowed, lambda s: s.utm_source or "form")
    assert {g.key: g.counts for g in first["funnel_window"]} == {
        k: v["counts"] for k, v in by_source.items()}
    assert {b.bucket: (b.leads, b.won) for b in first["speed"].to_first_contact_histogram} == \
        expected_win_rate_by_response(STORIES)
    assert {(row.key, reason): n for row in first["rejections"].by_source
            for reason, n in row.reasons.items()} == expected_rejections(STORIES)
    for model in Model:
        for by in AttributeBy:
            report, currency, currencies = first[f"attribution_{model.value}_{by.value}"]
            assert (currency, currencies) == ("EUR", ["EUR"])
            assert report == _expected_attribution(STORIES, model, by)

    # Every market breakdown matches the numbers computed straight from the stories, custom
    # properties included (read from the JSON the read model keeps).
    for by, key in MARKET_KEYS.items():
        want = expected_markets(STORIES, key)
        report = first[f"markets_{by}"]
        got = {r.key: (r.leads, r.conversion.reached, r.counts["won"],
                       r.revenue_minor.get("EUR", 0), r.conversion.ci_low, r.conversion.ci_high)
               for r in report.rows}
        assert got == {k: (w["leads"], w["reached"], w["won"], w["revenue_eur"],
                           pytest.approx(w["ci"][0], abs=1e-4), pytest.approx(w["ci"][1], abs=1e-4))
                       for k, w in want.items()}, by

    # Redelivered events change nothing.
    await _apply(engine, shuffled[: len(shuffled) // 3])
    assert await _all_reports(engine) == first

    # Erased leads leave no trace of who they were, but every number stays.
    erased = [s.lead_id for s in STORIES[:: 25]]
    erasures = _envelopes([LeadErased(lead_id=lead, erased_at=MONTH_START + timedelta(days=40))
                           for lead in erased])
    await _apply(engine, erasures)
    after_erasure = await _all_reports(engine)
    assert not {f.lead_id for f in after_erasure["facts"]} & set(erased)
    assert len(after_erasure["facts"]) == len(first["facts"])
    # utm_term and utm_content are free text that may name the person: an erased lead's go, so
    # those breakdowns move the erased leads to "(none)" but keep every lead.
    free_text = {"funnel_by_utm_term", "funnel_by_utm_content"}
    for name in free_text:
        assert {g.key for g in after_erasure[name]} <= {g.key for g in first[name]}, name
        assert sum(g.counts["lead"] for g in after_erasure[name]) == len(first["facts"]), name
    for name in first:
        # An erased lead keeps its market (country, industry, ...) but not its free-form
        # custom properties: those breakdowns change.
        if name != "facts" and not name.startswith("markets_property:") \
                and name not in free_text:
            assert after_erasure[name] == first[name], name
    async with engine.connect() as conn:
        for table in READ_MODEL_TABLES:
            column = table.c.lead_id
            left = await conn.scalar(select(func.count()).where(column.in_(erased)))
            assert left == (len(erased) if table.name == "funnel_leads" else 0), table.name

    async with engine.connect() as conn:
        kept = await conn.scalars(select(touches.c.touch_id))
        assert not any(str(lead) in touch for touch in kept for lead in erased)

    # Drop the read model and replay in another order (erasures last, as the rebuild does):
    # identical numbers.
    async with UnitOfWork(engine, "outcomes") as uow:
        await repository.clear_read_model(uow.connection)
        await uow.commit()
    assert (await _all_reports(engine))["facts"] == []
    await _apply(engine, random.Random(2).sample(events, len(events)) + erasures)
    replayed = await _all_reports(engine)
    assert {k: v for k, v in replayed.items() if k != "facts"} == \
        {k: v for k, v in after_erasure.items() if k != "facts"}
    # Anonymous rows get new random ids on each replay; their contents are the same.
    assert _without_ids(replayed["facts"]) == _without_ids(after_erasure["facts"])
