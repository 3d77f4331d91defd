"""The unit of work: statements sent straight to the driver belong to its transaction."""

import pytest
from sqlalchemy import text

from leadloop.db import UnitOfWork
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
