"""The account report on real PostgreSQL: events through outcomes' handlers roll each company's
leads up (admin aliases from the hand-off applied, free mail left out), the list pages by
revenue in the cursor envelope, one account reads alone, bad input is a 4xx naming the field,
and replaying the events into emptied read-model tables (what a rebuild does) gives the same
accounts."""

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.app import Runtime, create_service_app
from leadloop.auth import ApiKeyRecord, hash_key
from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import (
    DealClosed,
    LeadCreated,
    LeadHandedOff,
    LeadProfile,
    LeadSource,
    RepRef,
)
from leadloop.handlers import Item
from leadloop.kafka import create_producer
from leadloop_devstack.stack import Stack
from outcomes.accounts.api import router
from outcomes.config import OutcomesSettings
from outcomes.funnel import repository
from outcomes.handlers import HANDLERS
from outcomes.tables import deals
from tests.integration.conftest import migrated_database

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

REPORTS_KEY, DEALS_KEY = "llk_reports-accounts-it", "llk_deals-accounts-it"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
ANN = RepRef(id=uuid.uuid4(), name="Ann", email="ann@sales.example")
BOB = RepRef(id=uuid.uuid4(), name="Bob", email="bob@sales.example")


@pytest_asyncio.fixture
async def app(stack: Stack) -> AsyncIterator[FastAPI]:
    """Outcomes' account routes on a fresh, migrated database (no Kafka side)."""
    url = await migrated_database(stack, "outcomes", "outcomes_accounts")
    settings = OutcomesSettings(database_url=url, api_keys=[
        ApiKeyRecord(name="reports", sha256=hash_key(REPORTS_KEY), scopes=["reports:read"]),
        ApiKeyRecord(name="deals", sha256=hash_key(DEALS_KEY), scopes=["deals:write"])])
    app = create_service_app(settings=settings, routers=[router])
    engine = create_engine(url, pool_size=2)
    app.state.runtime = Runtime(settings=settings, engine=engine,
                                producer=create_producer(stack.bootstrap_servers, "accounts-it"))
    yield app
    await app.state.runtime.producer.stop()
    await engine.dispose()


def _created(lead: uuid.UUID, email: str, days: float, campaign: str) -> LeadCreated:
    return LeadCreated(lead_id=lead, profile=LeadProfile(email=email, country="DE"),
                       source=LeadSource(channel="form", campaign=campaign),
                       created_at=T0 + timedelta(days=days))


def _handed(lead: uuid.UUID, email: str, rep: RepRef, days: float,
            account: str | None) -> LeadHandedOff:
    return LeadHandedOff(lead_id=lead, assignment_id=uuid.uuid4(), rep=rep, routing_rule="r",
                         routing_reason="test", profile=LeadProfile(email=email), score=80,
                         grade="A", qualified_at=T0 + timedelta(days=days),
                         handed_off_at=T0 + timedelta(days=days), account=account)


def _closed(lead: uuid.UUID, outcome: str, amount: int, days: float) -> DealClosed:
    return DealClosed(lead_id=lead, deal_id=uuid.uuid4(), external_id=f"crm-{uuid.uuid4()}",
                      outcome=outcome, amount_minor=amount, currency="EUR",  # type: ignore[arg-type]
                      closed_at=T0 + timedelta(days=days))


def _stories() -> list[EventData]:
    jane, tom, eve, gus = (uuid.uuid4() for _ in range(4))
    return [
        # Jane (acme.com) buys, then buys again: a repeat purchase is a new deal.
        _created(jane, "jane@acme.com", 0, "spring"),
        _handed(jane, "jane@acme.com", ANN, 1, "acme.com"),
        _closed(jane, "won", 400_000, 5), _closed(jane, "won", 150_000, 15),
        # Tom writes from acme.co.uk, which an admin mapped onto acme.com: handoff says so.
        _created(tom, "tom@acme.co.uk", 2, "fall"),
        _handed(tom, "tom@acme.co.uk", BOB, 8, "acme.com"),
        _closed(tom, "lost", 90_000, 9),
        # Eve uses free mail: no account.
        _created(eve, "eve@gmail.com", 3, "spring"),
        _closed(eve, "won", 999_000, 6),
        # Gus (globex.com) buys once; no hand-off seen yet (the email's domain counts).
        _created(gus, "gus@globex.com", 4, "spring"),
        _closed(gus, "won", 500_000, 7),
    ]


async def _apply(engine: AsyncEngine, events: Sequence[EventData]) -> None:
    async with UnitOfWork(engine, "outcomes") as uow:
        await HANDLERS.apply(uow, [Item(e, CloudEvent(
            type=event_type_of(e), source="test", subject=str(e.lead_id), data={}))  # type: ignore[attr-defined]
            for e in events])
        await uow.commit()


async def _record_deals(engine: AsyncEngine, events: Sequence[EventData]) -> None:
    """The deals table as the sales tools' reports left it (plus one deal still open)."""
    closed = [e for e in events if isinstance(e, DealClosed)]
    tom = closed[2].lead_id
    async with engine.begin() as conn:
        await conn.execute(insert(deals), [
            {"id": e.deal_id, "external_id": e.external_id, "lead_id": e.lead_id,
             "status": e.outcome, "amount_minor": e.amount_minor, "currency": e.currency,
             "opened_at": None, "closed_at": e.closed_at} for e in closed] + [
            {"id": uuid.uuid4(), "external_id": "crm-open", "lead_id": tom, "status": "open",
             "amount_minor": 10_000, "currency": "EUR", "opened_at": T0, "closed_at": None}])


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://outcomes.test",
                             headers={"X-API-Key": REPORTS_KEY})


async def _get(http: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_accounts_roll_up_page_by_revenue_and_survive_a_replay(app: FastAPI) -> None:
    engine = app.state.runtime.engine
    events = _stories()
    await _apply(engine, events)
    await _record_deals(engine, events)
    async with _client(app) as http:
        page = await _get(http, "/v1/reports/accounts")
        assert [a["domain"] for a in page["items"]] == ["acme.com", "globex.com"]
        assert page["next_cursor"] is None and page["currency"] == "EUR"
        acme = page["items"][0]
        assert (acme["contacts"], acme["customers"], acme["repeat_customers"]) == (2, 1, 1)
        assert (acme["deals_opened"], acme["deals_won"], acme["deals_lost"]) == (4, 2, 1)
        assert (acme["first_revenue_minor"], acme["repeat_revenue_minor"],
                acme["revenue_minor"]) == (400_000, 150_000, 550_000)
        assert acme["leads_by_stage"] == {"lead": 1, "repeat_customer": 1}
        # Jane's rep won the latest deal; Tom's later hand-off to Bob does not change that.
        assert (acme["owner_rep_name"], acme["owner_basis"]) == ("Ann", "won_latest_deal")
        assert acme["small_sample"] is True and acme["repeat_purchase_rate"] == 1.0
        # all accounts' customers: Jane bought again, Gus did not (Eve has no account)
        assert page["repeat_purchase_rate"] == 0.5

        # One per page, revenue first, then the rest through the cursor.
        first = await _get(http, "/v1/reports/accounts", limit=1)
        second = await _get(http, "/v1/reports/accounts", limit=1, cursor=first["next_cursor"])
        assert [first["items"][0]["domain"], second["items"][0]["domain"]] == [
            "acme.com", "globex.com"]
        assert second["next_cursor"] is None
        by_domain = await _get(http, "/v1/reports/accounts", sort="domain", limit=1)
        assert by_domain["items"][0]["domain"] == "acme.com"

        # Filters narrow the contacts; one account reads alone, any case.
        fall = await _get(http, "/v1/reports/accounts", campaign="fall")
        assert [(a["domain"], a["contacts"], a["revenue_minor"]) for a in fall["items"]] == [
            ("acme.com", 1, 0)]
        assert await _get(http, "/v1/reports/accounts/ACME.com") == acme
        customers = await _get(http, "/v1/reports/accounts",
                               lifecycle_stage="repeat_customer")
        assert [a["domain"] for a in customers["items"]] == ["acme.com"]

        # Free mail is no account; unknown accounts and bad input are 4xx naming the field.
        r = await http.get("/v1/reports/accounts/gmail.com")
        assert r.status_code == 404 and "free-mail" in r.text
        assert (await http.get("/v1/reports/accounts/initech.com")).status_code == 404
        for params, field in (({"cursor": "nope"}, "cursor"), ({"sort": "size"}, "sort"),
                              ({"country": "germany"}, "country"), ({"limit": 0}, "limit"),
                              ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
                               "to")):
            r = await http.get("/v1/reports/accounts", params=params)
            assert r.status_code == 422, (params, r.text)
            assert field in {e["field"] for e in r.json()["errors"]}, r.json()
        r = await http.get("/v1/reports/accounts/not_a_domain")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "domain"
        r = await http.get("/v1/reports/accounts", headers={"X-API-Key": DEALS_KEY})
        assert r.status_code == 403
        r = await http.get("/v1/reports/accounts", headers={"X-API-Key": ""})
        assert r.status_code == 401

        # A rebuild replays the history into empty tables: the account column fills again.
        async with UnitOfWork(engine, "outcomes") as uow:
            await repository.clear_read_model(uow.connection)
            await uow.commit()
        assert (await _get(http, "/v1/reports/accounts"))["items"] == []
        await _apply(engine, events)
        assert (await _get(http, "/v1/reports/accounts")) == page
