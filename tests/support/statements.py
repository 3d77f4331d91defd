"""Counting the SQL statements a piece of code sends to PostgreSQL (the batch handlers' and
workers' "a fixed few statements, whatever the batch size" is asserted and measured with it)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement sent to PostgreSQL meanwhile, through SQLAlchemy on `engine` or straight
    through the driver (asyncpg's connection methods, patched while inside)."""
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    originals = {name: getattr(asyncpg.Connection, name)
                 for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval")}

    def counted(name: str) -> Any:
        async def call(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
            statements.append(query)
            return await originals[name](self, query, *args, **kw)
        return call

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    for name in originals:
        setattr(asyncpg.Connection, name, counted(name))
    try:
        yield statements
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
