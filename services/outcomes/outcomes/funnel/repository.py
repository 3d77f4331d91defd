"""The read model's queries: the funnel rows, touches and closed deals, written a batch at a
time; erasure; the funnel counts; locking the tables."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
import orjson
from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    and_,
    cast,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.retry import Backoff
from outcomes.funnel.counted import counted_leads
from outcomes.funnel.domain import CONVERSIONS, FUNNEL_ORDER, FunnelRow, Stage, stage_column
from outcomes.funnel.facts import (
    CLOCK_COLUMNS,
    FIRST_TIME_COLUMNS,
    LATEST_COLUMNS,
    REASON_COLUMNS,
    FunnelPlan,
)
from outcomes.funnel.merges import MergeState
from outcomes.tables import (
    READ_MODEL_TABLES,
    closed_deals,
    funnel_leads,
    touches,
)

# --- funnel read model ---------------------------------------------------------------------

_SQL_TYPES = {"UUID": "uuid", "DateTime": "timestamptz", "Text": "text", "Integer": "int4",
              "BigInteger": "int8", "Boolean": "bool", "JSONB": "text"}  # jsonb travels as text
# Merge state is not a fact of the lead: lead.merged and lead.unmerged set it on their own.
_MERGE_COLUMNS = ("merged_into", "merge_state_at")
_DATA_COLUMNS = [c.name for c in funnel_leads.c
                 if c.name not in ("lead_id", "erased", "anonymous", "updated_at", *_MERGE_COLUMNS)]


def _unnest(table: Table, columns: Sequence[str]) -> str:
    """`unnest($1::uuid[], $2::text[], ...) AS t(a, b, ...)` for `columns` of `table`."""
    arrays = ", ".join(f"${n}::{_SQL_TYPES[type(table.c[name].type).__name__]}[]"
                       for n, name in enumerate(columns, 1))
    return f"unnest({arrays}) AS t({', '.join(columns)})"


def _value(table: Table, name: str) -> str:
    return f"t.{name}::jsonb" if isinstance(table.c[name].type, JSONB) else f"t.{name}"


def _merged(name: str) -> str:
    """How the stored value of column `name` and the batch's (EXCLUDED, NULL when the batch
    told nothing) merge: the rules of outcomes.funnel_facts."""
    current, new = f"funnel_leads.{name}", f"EXCLUDED.{name}"
    if name in FIRST_TIME_COLUMNS:
        return f"LEAST({current}, {new})"
    if name in LATEST_COLUMNS:  # the value of the latest time told
        return _when(LATEST_COLUMNS[name], ">=", new, current)
    if name in CLOCK_COLUMNS:
        return f"GREATEST({current}, {new})"
    if name in REASON_COLUMNS:  # the reason of the earliest time told
        return _when(REASON_COLUMNS[name], "<", new, current)
    return f"COALESCE({current}, {new})"


def _when(clock: str, compared: str, new: str, current: str) -> str:
    """`new` when the batch told a `clock` and the stored one is NULL or `compared` to it."""
    return (f"CASE WHEN EXCLUDED.{clock} IS NOT NULL AND (funnel_leads.{clock} IS NULL "
            f"OR EXCLUDED.{clock} {compared} funnel_leads.{clock}) THEN {new} ELSE {current} END")


_FUNNEL_COLUMNS = ["lead_id", *_DATA_COLUMNS]
# One statement for any batch: the rows in lead-id order, so two transactions upserting the
# same leads lock them in the same order and never deadlock. An erased lead's tombstone row is
# never updated.
_UPSERT_FUNNEL_FACTS = (
    f"INSERT INTO funnel_leads ({', '.join(_FUNNEL_COLUMNS)}) "
    f"SELECT {', '.join(_value(funnel_leads, c) for c in _FUNNEL_COLUMNS)} "
    f"FROM {_unnest(funnel_leads, _FUNNEL_COLUMNS)} ORDER BY t.lead_id "
    "ON CONFLICT (lead_id) DO UPDATE SET "
    + ", ".join(f"{name} = {_merged(name)}" for name in _DATA_COLUMNS)
    + ", updated_at = now() WHERE NOT funnel_leads.erased"
)


def insert_unless_erased(table: Table, key: str) -> str:
    """Insert rows once per `key`, except those of an erased lead; in key order."""
    columns = [c.name for c in table.c]
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"SELECT {', '.join(_value(table, c) for c in columns)} "
            f"FROM {_unnest(table, columns)} WHERE NOT EXISTS (SELECT FROM funnel_leads f "
            f"WHERE f.lead_id = t.lead_id AND f.erased) ORDER BY t.{key} "
            f"ON CONFLICT ({key}) DO NOTHING")


_ADD_TOUCHES = insert_unless_erased(touches, "touch_id")
_ADD_CLOSED_DEALS = insert_unless_erased(closed_deals, "deal_id")


def column_arrays(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
                  ) -> list[list[object]]:
    """`rows` as one list per column (what unnest takes); jsonb values as JSON text."""
    arrays = []
    for name in columns:
        values: list[object] = [row.get(name) for row in rows]
        if isinstance(table.c[name].type, JSONB):
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays.append(values)
    return arrays


async def save_funnel_plan(driver: asyncpg.Connection, plan: FunnelPlan) -> None:
    """Write what a batch folded: the funnel rows (merged with the stored ones), the new
    touches and the newly closed deals; one statement per table, whatever the batch's size.

    Touches and closed deals of an erased lead are not kept (they would point back at it)."""
    if plan.rows:
        rows = [{"lead_id": lead_id, **values} for lead_id, values in plan.rows.items()]
        await driver.execute(_UPSERT_FUNNEL_FACTS,
                             *column_arrays(funnel_leads, _FUNNEL_COLUMNS, rows))
    if plan.touches:
        await driver.execute(_ADD_TOUCHES,
                             *column_arrays(touches, [c.name for c in touches.c], plan.touches))
    if plan.closed_deals:
        await driver.execute(_ADD_CLOSED_DEALS, *column_arrays(
            closed_deals, [c.name for c in closed_deals.c], plan.closed_deals))


# A duplicate's merge state, the latest by its own clock; never on an erased lead's tombstone,
# and never a merge into an erased lead (its group was erased with it: merging into it now
# would hide the duplicate's numbers). A duplicate outcomes has not heard of yet gets a row that
# holds only the merge state; its facts join it when its events come.
_SET_MERGE_STATES = (
    "INSERT INTO funnel_leads (lead_id, merged_into, merge_state_at) "
    "SELECT t.lead_id, t.merged_into, t.merge_state_at "
    "FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(lead_id, merged_into, "
    "merge_state_at) WHERE t.merged_into IS NULL OR NOT EXISTS (SELECT FROM funnel_leads s "
    "WHERE s.lead_id = t.merged_into AND s.erased) ORDER BY t.lead_id "
    "ON CONFLICT (lead_id) DO UPDATE SET merged_into = EXCLUDED.merged_into, "
    "merge_state_at = EXCLUDED.merge_state_at, updated_at = now() "
    "WHERE NOT funnel_leads.erased AND (funnel_leads.merge_state_at IS NULL "
    "OR EXCLUDED.merge_state_at >= funnel_leads.merge_state_at)"
)


async def save_merge_states(driver: asyncpg.Connection, states: Sequence[MergeState]) -> None:
    """Record which lead each duplicate is merged into (None: not, or no longer); one statement
    for the batch."""
    if states:
        await driver.execute(_SET_MERGE_STATES, [s.lead_id for s in states],
                             [s.merged_into for s in states], [s.at for s in states])


async def merge_links(conn: AsyncConnection) -> dict[UUID, UUID]:
    """Every lead merged into another (lead -> the lead it was merged into). Merges are rare:
    a partial index holds them."""
    c = funnel_leads.c
    rows = await conn.execute(select(c.lead_id, c.merged_into)
                              .where(c.merged_into.is_not(None), ~c.erased))
    return {row.lead_id: row.merged_into for row in rows}


async def funnel_lead_state(conn: AsyncConnection, lead_id: UUID) -> bool | None:
    """None: outcomes has heard nothing of this lead; else whether it is erased."""
    erased: bool | None = await conn.scalar(
        select(funnel_leads.c.erased).where(funnel_leads.c.lead_id == lead_id))
    return erased


async def mark_funnel_lead_erased(conn: AsyncConnection, lead_id: UUID) -> FunnelRow:
    """Mark a lead's funnel row erased (a tombstone if it had none), locked; returns what the row
    held, so its numbers can move to an anonymous row. Concurrent upserts wait on the lock and
    then find the tombstone."""
    statement = pg_insert(funnel_leads).values(lead_id=lead_id, erased=True)
    row = (await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[funnel_leads.c.lead_id],
            set_={"erased": True, "updated_at": func.now()},
        ).returning(*funnel_leads.c)
    )).one()
    return dict(row._mapping)


async def insert_anonymous_funnel_row(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    """Insert the anonymous row that keeps an erased lead in the counts."""
    await conn.execute(insert(funnel_leads).values(**values))


async def clear_funnel_lead(conn: AsyncConnection, lead_id: UUID) -> None:
    """Empty a tombstone row of everything but its id and the erased mark."""
    await conn.execute(
        update(funnel_leads).where(funnel_leads.c.lead_id == lead_id)
        .values(**dict.fromkeys((*_DATA_COLUMNS, *_MERGE_COLUMNS)), updated_at=func.now())
    )


async def anonymize_report_rows(conn: AsyncConnection, lead_id: UUID, anonymous_id: UUID) -> None:
    """Move an erased lead's touches and closed deals to its anonymous id. Their own ids are
    replaced too: activity and deal ids appear next to the lead id in the event history."""
    await conn.execute(update(touches).where(touches.c.lead_id == lead_id).values(
        lead_id=anonymous_id, touch_id="anonymous:" + cast(func.gen_random_uuid(), Text)))
    await conn.execute(update(closed_deals).where(closed_deals.c.lead_id == lead_id)
                       .values(lead_id=anonymous_id, deal_id=func.gen_random_uuid()))


async def lead_is_erased(conn: AsyncConnection, lead_id: UUID) -> bool:
    """Whether outcomes has processed an erasure of this lead."""
    erased = await conn.scalar(
        select(funnel_leads.c.erased).where(funnel_leads.c.lead_id == lead_id)
    )
    return bool(erased)


async def funnel_counts(
    conn: AsyncConnection, created_from: datetime | None, created_to: datetime | None,
) -> tuple[dict[Stage, int], dict[tuple[Stage, Stage], int], int]:
    """Leads per stage, leads in both stages of each conversion, and leads closed as not
    converted, in one scan.

    The window [created_from, created_to) is on when the lead was created.
    """
    c = counted_leads.c

    def reached(stage: Stage) -> ColumnElement[bool]:
        is_reached: ColumnElement[bool] = c[stage_column(stage)].is_not(None)
        return is_reached

    query = select(
        *(func.count().filter(reached(s)).label(s.value) for s in FUNNEL_ORDER),
        *(func.count().filter(and_(reached(a), reached(b))).label(f"{a.value}__{b.value}")
          for a, b in CONVERSIONS),
        func.count().filter(c.not_converted_at.is_not(None)).label("not_converted"),
    ).where(~c.erased)
    if created_from is not None:
        query = query.where(c.lead_at >= created_from)
    if created_to is not None:
        query = query.where(c.lead_at < created_to)
    row = (await conn.execute(query)).one()._mapping
    return (
        {s: int(row[s.value]) for s in FUNNEL_ORDER},
        {(a, b): int(row[f"{a.value}__{b.value}"]) for a, b in CONVERSIONS},
        int(row["not_converted"]),
    )


LOCK_NOT_AVAILABLE = "55P03"
LockMode = Literal["EXCLUSIVE", "ACCESS EXCLUSIVE"]


def _sqlstate(exc: DBAPIError) -> str | None:
    cause = getattr(exc.orig, "__cause__", None)
    sqlstate: str | None = getattr(exc.orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
    return sqlstate


async def lock_tables(conn: AsyncConnection, names: str, mode: LockMode, backoff: Backoff,
                      attempt: str | None = None) -> None:
    """Lock the tables `names` (comma-separated) all at once until the transaction ends,
    retried after `backoff` until granted. Each attempt gives up at once (NOWAIT) or, given
    `attempt` (a PostgreSQL interval), after queueing that long: waiting for one table while
    holding another would deadlock with a report that reads them in the other order, and a
    long queue holds up every reader behind it."""
    if attempt is not None:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{attempt}'"))
    nowait = " NOWAIT" if attempt is None else ""
    while True:
        try:
            async with conn.begin_nested():  # a failed attempt rolls back only itself
                await conn.execute(text(f"LOCK TABLE {names} IN {mode} MODE{nowait}"))
            break
        except DBAPIError as exc:
            if _sqlstate(exc) != LOCK_NOT_AVAILABLE:
                raise
            await backoff.sleep()
    if attempt is not None:
        await conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))


async def clear_read_model(conn: AsyncConnection) -> None:
    """Drop everything the read model holds, to refill it from events in this transaction
    (a rebuild builds fresh tables instead: outcomes.rebuild). Takes the tables' exclusive
    lock until the transaction ends, so live events wait for the refill.

    The locks are taken all at once with NOWAIT, retried until none is held by anyone (see
    lock_tables). Once held, TRUNCATE waits for nothing.
    """
    names = ", ".join(table.name for table in READ_MODEL_TABLES)
    await lock_tables(conn, names, "ACCESS EXCLUSIVE", Backoff(0.01, 0.5))
    await conn.execute(text(f"TRUNCATE {names}"))


async def count_funnel_leads(conn: AsyncConnection) -> int:
    """Leads the funnel counts (created, not erased, a merged duplicate in its survivor)."""
    c = counted_leads.c
    return int(await conn.scalar(
        select(func.count()).select_from(counted_leads)
        .where(~c.erased, c.lead_at.is_not(None))) or 0)
