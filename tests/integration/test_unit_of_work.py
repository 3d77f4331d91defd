"""The unit of work: statements sent straight to the driver belong to its transaction, and a
savepoint that fails takes back its statements and its events, nothing else."""

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import select, text

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadErased
from leadloop.infra_tables import outbox
from tests.integration.conftest import Sandbox

pytestmark = pytest.mark.asyncio


async def _rows(sandbox: Sandbox) -> int:
    async with sandbox.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM driver_rows")) or 0)


async def test_driver_statements_commit_and_roll_back_with_the_unit_of_work(
        sandbox: Sandbox) -> None:
    async with sandbox.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE driver_rows (x int)"))

    async with UnitOfWork(sandbox.engine, "test") as uow:  # left without commit
        await (await uow.driver()).execute("INSERT INTO driver_rows VALUES (1)")
    assert await _rows(sandbox) == 0

    async with UnitOfWork(sandbox.engine, "test") as uow:
        driver = await uow.driver()
        await driver.execute("INSERT INTO driver_rows VALUES (1)")
        await uow.connection.execute(text("INSERT INTO driver_rows VALUES (2)"))
        await uow.commit()
    assert await _rows(sandbox) == 2


async def test_a_failed_savepoint_drops_its_statements_and_events_and_keeps_the_rest(
        sandbox: Sandbox) -> None:
    async with sandbox.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE savepoint_rows (x int)"))
    kept, dropped = uuid.uuid4(), uuid.uuid4()

    async with UnitOfWork(sandbox.engine, "test") as uow:
        uow.publish(LeadErased(lead_id=kept, erased_at=datetime.now(UTC)))
        await (await uow.driver()).execute("INSERT INTO savepoint_rows VALUES (1)")
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with uow.savepoint():
                uow.publish(LeadErased(lead_id=dropped, erased_at=datetime.now(UTC)))
                await (await uow.driver()).execute("INSERT INTO savepoint_rows VALUES (2)")
                await (await uow.driver()).execute("SELECT 1 / 0")  # the transaction fails
        async with uow.savepoint():  # after the rollback to its savepoint it goes on
            await (await uow.driver()).execute("INSERT INTO savepoint_rows VALUES (3)")
        await uow.commit()

    async with sandbox.engine.connect() as conn:
        rows = sorted(await conn.scalars(text("SELECT x FROM savepoint_rows")))
        subjects = list(await conn.scalars(select(outbox.c.subject)))
    assert rows == [1, 3]
    assert subjects == [str(kept)], "the failed savepoint's event never reaches the outbox"
