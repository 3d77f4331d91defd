"""The fresh tables a rebuild fills, and the swap that puts them in place of the live ones.

The staging tables sit in their own schema with the live tables' names, columns, defaults and
constraints (names included), so the batch handlers write to them unchanged: a transaction that
puts the staging schema first on its `search_path` (`use_staging_tables`) resolves
`funnel_leads`, `touches` and `closed_deals` to them, and everything else (deals, keys) to the
live schema. PostgreSQL re-plans prepared statements when the search path changes, so the same
connection can serve the live consumer and the rebuild.

The swap moves the live tables to a retired schema and the staging tables into the live one,
indexes with them (created with the live indexes' names), in the caller's transaction: readers
wait only for those few catalog changes.
"""

import re
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.retry import Backoff
from outcomes.funnel.repository import lock_tables
from outcomes.tables import READ_MODEL_TABLES

STAGING_SCHEMA = "outcomes_rebuild"
RETIRED_SCHEMA = "outcomes_retired"
TABLE_NAMES: tuple[str, ...] = tuple(table.name for table in READ_MODEL_TABLES)
# How long one attempt at a table lock may queue (and hold up the readers queued behind it).
LOCK_ATTEMPT = "200ms"


async def live_schema(conn: AsyncConnection) -> str:
    """The schema the live read-model tables are in (where the migrations created them)."""
    schema = await conn.scalar(text(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass('funnel_leads')"))
    if schema is None or schema == STAGING_SCHEMA:
        raise RuntimeError("the read model's tables are not where the migrations put them")
    return str(schema)


async def drop_leftovers(conn: AsyncConnection) -> None:
    """Drop what an earlier rebuild left (one that stopped half-way, or the retired tables)."""
    for schema in (STAGING_SCHEMA, RETIRED_SCHEMA):
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


async def create_staging_tables(conn: AsyncConnection, live: str) -> None:
    """Empty tables like the live ones in the staging schema: columns, defaults, checks, and the
    primary and unique keys under their live names (the handlers' ON CONFLICT needs them).
    Other indexes come after the bulk of the load (`create_staging_indexes`)."""
    await drop_leftovers(conn)
    await conn.execute(text(f"CREATE SCHEMA {STAGING_SCHEMA}"))
    for name in TABLE_NAMES:
        await conn.execute(text(
            f"CREATE TABLE {STAGING_SCHEMA}.{name} (LIKE {live}.{name} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)"))
        keys = await conn.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(:table) AND contype IN ('p', 'u', 'x')"),
            {"table": f"{live}.{name}"})
        for constraint, definition in keys.all():
            await conn.execute(text(f'ALTER TABLE {STAGING_SCHEMA}.{name} '
                                    f'ADD CONSTRAINT "{constraint}" {definition}'))


async def create_staging_indexes(conn: AsyncConnection, live: str) -> None:
    """The live tables' other indexes, same names and definitions, on the staging tables (built
    once over the loaded rows, which is cheaper than keeping them up to date row by row)."""
    for name in TABLE_NAMES:
        definitions = await conn.scalars(text(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = "
            "to_regclass(:table) AND NOT EXISTS (SELECT FROM pg_constraint c "
            "WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)"),
            {"table": f"{live}.{name}"})
        for definition in definitions.all():
            staged, found = re.subn(r" ON (ONLY )?\S+ USING ",
                                    rf" ON \g<1>{STAGING_SCHEMA}.{name} USING ", definition,
                                    count=1)
            if not found:
                raise RuntimeError(f"cannot read the index definition {definition!r}")
            await conn.execute(text(staged))
        await conn.execute(text(f"ANALYZE {STAGING_SCHEMA}.{name}"))


async def use_staging_tables(conn: AsyncConnection) -> None:
    """For the rest of the transaction, the read model's table names mean the staging tables."""
    await conn.execute(text(
        "SELECT set_config('search_path', :schema || ', ' || current_setting('search_path'), "
        "true)"), {"schema": STAGING_SCHEMA})


async def lock_live_tables(conn: AsyncConnection, live: str,
                           mode: Literal["EXCLUSIVE", "ACCESS EXCLUSIVE"]) -> None:
    """Lock the live tables until the transaction ends: EXCLUSIVE stops writers (the live
    consumer) and lets readers go on; ACCESS EXCLUSIVE stops readers too.

    All three at once, each attempt queueing at most LOCK_ATTEMPT: queueing longer would hold
    up every reader that comes after (they queue behind a waiting exclusive lock), and holding
    one table while waiting for another could deadlock with a report reading them in another
    order. Retried until it is granted."""
    names = ", ".join(f"{live}.{name}" for name in TABLE_NAMES)
    await lock_tables(conn, names, mode, Backoff(0.01, 0.2), LOCK_ATTEMPT)


async def swap_in_staging_tables(conn: AsyncConnection, live: str) -> None:
    """Put the staging tables where the live ones are and the live ones in the retired schema,
    with their indexes; the caller holds the live tables' ACCESS EXCLUSIVE lock. A statement
    that was waiting for the lock finds the new tables by name once it gets it (PostgreSQL looks
    the name up again, and re-plans prepared statements, after a concurrent rename)."""
    await conn.execute(text(f"CREATE SCHEMA {RETIRED_SCHEMA}"))
    for name in TABLE_NAMES:
        await conn.execute(text(f"ALTER TABLE {live}.{name} SET SCHEMA {RETIRED_SCHEMA}"))
    for name in TABLE_NAMES:
        await conn.execute(text(f"ALTER TABLE {STAGING_SCHEMA}.{name} SET SCHEMA {live}"))
