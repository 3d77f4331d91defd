"""Capture's group commit against real PostgreSQL: concurrent POST /v1/leads written in one
transaction store what the same requests stored one at a time, and a row the database refuses
fails only its own request."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from capture.idempotency.service import Claim
from capture.leads.plan import LeadWrite
from capture.leads.service import LeadRequest, apply_leads
from capture.leads.validation import LeadIn
from capture.writes.group_commit import GroupCommit
from leadloop.db import UnitOfWork, create_engine
from leadloop_devstack.stack import Stack
from tests.integration.conftest import migrated_database

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def two_databases(stack: Stack) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    engines = (create_engine(await migrated_database(stack, "capture", "capgc"), pool_size=2),
               create_engine(await migrated_database(stack, "capture", "capgc"), pool_size=2))
    yield engines
    for engine in engines:
        await engine.dispose()


async def _seed(engine: AsyncEngine) -> None:
    """A known lead, and a duplicate merged into a survivor."""
    survivor, absorbed = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        for lead_id, email, merged_into in ((uuid.uuid4(), "known@acme.com", None),
                                            (survivor, "survivor@acme.com", None),
                                            (absorbed, "absorbed@acme.com", survivor)):
            await conn.execute(text(
                "INSERT INTO leads (id, email, profile, consent, source, merged_into) VALUES "
                "(:id, :email, CAST(:profile AS jsonb), '{}', '{}', :merged)"),
                {"id": lead_id, "email": email, "merged": merged_into,
                 "profile": orjson.dumps({"email": email, "company": "Acme"}).decode()})


def _requests() -> list[LeadRequest]:
    bodies: list[dict[str, Any]] = [
        {"email": "New.One@Example.com"},
        {"email": "new.one@example.com", "first_name": "Ann"},  # same email, same batch
        {"email": "known@acme.com", "job_title": "CTO"},
        {"email": "known@acme.com", "job_title": "CTO"},  # unchanged after the one before
        {"email": "absorbed@acme.com", "first_name": "Sam"},  # lands on the survivor
        {"email": "poison@example.com", "first_name": "Nul Byte"},  # poisoned below
        {"email": "two@example.com", "consent": {"email_marketing": True}},
        {"email": "keyed@example.com"},
    ]
    leads = [LeadIn.model_validate(b) for b in bodies]
    # A write the database refuses (jsonb takes no NUL). The API refuses NUL at validation now;
    # model_copy skips validation, so the batch still meets a row that fails only at the insert.
    leads[5] = leads[5].model_copy(update={"first_name": "Nul\x00Byte"})
    requests = [LeadRequest(LeadWrite.of(lead)) for lead in leads]
    requests[-1].claim = Claim("leads", "key-1", "fingerprint-1")
    return requests


async def _state(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        leads = (await conn.execute(text(
            "SELECT email, profile, consent, merged_into IS NOT NULL FROM leads ORDER BY email"
        ))).all()
        events = (await conn.execute(text(
            "SELECT l.email, o.event_type FROM outbox o JOIN leads l ON l.id::text = o.subject "
            "WHERE o.topic = 'leadloop.capture' ORDER BY o.id"))).all()
        keys = (await conn.execute(text(
            "SELECT scope, key, status_code, response -> 'body' ->> 'status' "
            "FROM idempotency_keys"))).all()
    by_email: dict[str, list[str]] = {}
    for email, event_type in events:
        by_email.setdefault(email, []).append(event_type)
    return {"leads": [tuple(r) for r in leads], "events": by_email,
            "keys": [tuple(r) for r in keys]}


def _outcome(result: Any) -> Any:
    if isinstance(result, BaseException):
        return "refused by the database" if getattr(result, "sqlstate", None) else repr(result)
    return result.status_code, orjson.loads(result.body)["status"]


async def test_a_shared_batch_stores_what_one_request_at_a_time_stores(
        two_databases: tuple[AsyncEngine, AsyncEngine]) -> None:
    together_db, alone_db = two_databases
    for engine in two_databases:
        await _seed(engine)
    together: GroupCommit[LeadRequest, Any] = GroupCommit(
        "leads", lambda: UnitOfWork(together_db, "capture"), apply_leads)
    batch = await asyncio.gather(*(together.submit(r) for r in _requests()),
                                 return_exceptions=True)
    alone: GroupCommit[LeadRequest, Any] = GroupCommit(
        "leads", lambda: UnitOfWork(alone_db, "capture"), apply_leads)
    one_by_one = []
    for request in _requests():
        try:
            one_by_one.append(await alone.submit(request))
        except Exception as exc:  # the poison row's own failure
            one_by_one.append(exc)

    assert [_outcome(r) for r in batch] == [_outcome(r) for r in one_by_one] == [
        (201, "created"), (200, "updated"), (200, "updated"), (200, "unchanged"),
        (200, "updated"), "refused by the database", (201, "created"), (201, "created")]
    assert await _state(together_db) == await _state(alone_db)


async def test_statements_per_batch_do_not_grow_with_the_batch(
        two_databases: tuple[AsyncEngine, AsyncEngine]) -> None:
    engine = two_databases[0]
    counts = {}
    for run, size in enumerate((1, 1, 50)):  # the first also prepares the connection's types
        statements = await _statements_of_one_batch(engine, [
            LeadRequest(LeadWrite.of(LeadIn.model_validate(
                {"email": f"n{run}.{i}@example.com", "first_name": "N"})),
                Claim("leads", f"k{run}.{i}", "f")) for i in range(size)])
        counts[size] = len(statements)
    print(f"statements per batch of new leads with Idempotency-Keys: {counts}")
    print("\n".join(" ".join(s.split())[:110] for s in statements))
    assert counts[1] == counts[50], counts


async def _statements_of_one_batch(engine: AsyncEngine, requests: list[LeadRequest]
                                   ) -> list[str]:
    """Every statement sent while one batch is written (SQLAlchemy's and the driver's)."""
    statements: list[str] = []  # through SQLAlchemy
    driver_statements: list[str] = []  # through the driver: ours, and SQLAlchemy's again

    def on_query(record: Any) -> None:
        driver_statements.append(record.query)

    async def logged(uow: UnitOfWork, items: list[LeadRequest]) -> list[Any]:
        driver = await uow.driver()
        driver.add_query_logger(on_query)
        try:
            results = await apply_leads(uow, items)
            await uow.commit()
            return results
        finally:
            driver.remove_query_logger(on_query)

    def sqlalchemy_statement(*args: Any) -> None:
        statements.append(args[2])
    event.listen(engine.sync_engine, "before_cursor_execute", sqlalchemy_statement)
    try:
        batcher: GroupCommit[LeadRequest, Any] = GroupCommit(
            "leads", lambda: _NoCommit(engine), logged)
        await asyncio.gather(*(batcher.submit(r) for r in requests))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", sqlalchemy_statement)
    return statements + [q for q in driver_statements if q not in statements]


class _NoCommit(UnitOfWork):
    """Commits inside `logged` (so that the commit's statements are counted too)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, "capture")

    async def commit(self) -> None:
        if not self.committed:
            await super().commit()
