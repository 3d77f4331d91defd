"""Every query outcomes makes."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.retry import Backoff
from outcomes.domain import CONVERSIONS, FUNNEL_ORDER, Deal, DealStatus, Stage, stage_column
from outcomes.tables import READ_MODEL_TABLES, closed_deals, deals, funnel_leads, touches

# --- deals ---------------------------------------------------------------------------------

_DEAL_COLUMNS = [deals.c[name] for name in ("id", "external_id", "lead_id", "status",
                                            "amount_minor", "currency", "lost_reason",
                                            "opened_at", "closed_at")]


def _deal_of(row: Any) -> Deal:
    values = row._asdict()
    return Deal(**{**values, "status": DealStatus(values["status"])})


def _deal_values(deal: Deal) -> dict[str, Any]:
    return {column.name: getattr(deal, column.name) for column in _DEAL_COLUMNS}


async def insert_deal_if_new(conn: AsyncConnection, deal: Deal) -> bool:
    """Insert a deal unless its external id is known; True when inserted. Race-free."""
    inserted = await conn.scalar(
        pg_insert(deals).values(**_deal_values(deal))
        .on_conflict_do_nothing(index_elements=[deals.c.external_id])
        .returning(deals.c.id)
    )
    return inserted is not None


async def lock_deal(conn: AsyncConnection, external_id: str) -> Deal:
    """The deal with this external id, locked until the transaction ends."""
    row = (await conn.execute(
        select(*_DEAL_COLUMNS).where(deals.c.external_id == external_id).with_for_update()
    )).one()
    return _deal_of(row)


async def save_deal(conn: AsyncConnection, deal: Deal) -> None:
    """Store a deal's new state."""
    await conn.execute(
        update(deals).where(deals.c.id == deal.id)
        .values(**_deal_values(deal), updated_at=func.now())
    )


async def get_deal(conn: AsyncConnection, external_id: str) -> Deal | None:
    """A deal by the sales tool's id, or None."""
    row = (await conn.execute(
        select(*_DEAL_COLUMNS).where(deals.c.external_id == external_id)
    )).one_or_none()
    return None if row is None else _deal_of(row)


async def anonymize_deals(conn: AsyncConnection, lead_id: UUID, anonymous_id: UUID) -> None:
    """Detach a lead's deals from it: amounts stay for revenue reports, links to the person go."""
    await conn.execute(
        update(deals).where(deals.c.lead_id == lead_id)
        .values(lead_id=anonymous_id, external_id=None, lost_reason=None, updated_at=func.now())
    )


# --- funnel read model ---------------------------------------------------------------------

_FIRST_TIME_COLUMNS = ({stage_column(stage) for stage in FUNNEL_ORDER}
                       | {"rejected_at", "first_contacted_at"})
# Columns that follow the latest event by time (a rescore, a reassignment), with their clock.
_LATEST_COLUMNS = {"score": "scored_at", "rep_id": "rep_at", "rep_name": "rep_at",
                   # market attributes follow the latest profile (lead.created, lead.updated)
                   **dict.fromkeys(("country", "region", "company_size_band", "industry",
                                    "properties"), "profile_at")}
_DATA_COLUMNS = [c.name for c in funnel_leads.c
                 if c.name not in ("lead_id", "erased", "anonymous", "updated_at")]


async def record_funnel_facts(conn: AsyncConnection, lead_id: UUID, *,
                              stages: Mapping[Stage, datetime] | None = None,
                              source: Mapping[str, str | None] | None = None,
                              rejection: tuple[datetime, str] | None = None,
                              facts: Mapping[str, Any] | None = None) -> None:
    """Merge what one event tells about a lead into its funnel row, in one statement.

    Events arrive in any order and may repeat, so each stage keeps its earliest time (LEAST
    ignores NULL), source fields keep the first value seen, the reason stays with the first
    rejection, and score and rep follow the latest event by its own time (so a replay in another
    order ends the same). An erased lead's tombstone row is never updated.
    """
    values: dict[str, Any] = {stage_column(s): at for s, at in (stages or {}).items()}
    values |= dict(source or {})
    values |= dict(facts or {})  # other columns (first contact, score, rep), merged by rule
    if rejection is not None:
        values |= {"rejected_at": rejection[0], "rejection_reason": rejection[1]}
    if not values:
        return
    statement = pg_insert(funnel_leads).values(lead_id=lead_id, **values)
    current, new = funnel_leads.c, statement.excluded
    merged: dict[str, ColumnElement[Any]] = {}
    for name in values:
        if name in _FIRST_TIME_COLUMNS:
            merged[name] = func.least(current[name], new[name])
        elif name in _LATEST_COLUMNS:
            clock = _LATEST_COLUMNS[name]
            newer = or_(current[clock].is_(None), new[clock] >= current[clock])
            merged[name] = case((newer, new[name]), else_=current[name])
        elif name in _LATEST_COLUMNS.values():
            merged[name] = func.greatest(current[name], new[name])
        elif name == "rejection_reason":
            earlier = or_(current.rejected_at.is_(None), new.rejected_at < current.rejected_at)
            merged[name] = case((earlier, new[name]), else_=current[name])
        else:
            merged[name] = func.coalesce(current[name], new[name])
    await conn.execute(statement.on_conflict_do_update(
        index_elements=[current.lead_id], set_={**merged, "updated_at": func.now()},
        where=~current.erased,
    ))


async def mark_funnel_lead_erased(conn: AsyncConnection, lead_id: UUID) -> dict[str, Any]:
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
        .values(**dict.fromkeys(_DATA_COLUMNS), updated_at=func.now())
    )


async def add_touch(conn: AsyncConnection, touch: Mapping[str, Any]) -> None:
    """Add a touch to the raw touch log once (unless the lead is erased)."""
    erased = select(funnel_leads.c.lead_id).where(funnel_leads.c.lead_id == touch["lead_id"],
                                                  funnel_leads.c.erased)
    values = select(*(literal(v, touches.c[k].type).label(k) for k, v in touch.items())) \
        .where(~erased.exists())
    await conn.execute(pg_insert(touches).from_select(list(touch), values)
                       .on_conflict_do_nothing(index_elements=[touches.c.touch_id]))


async def add_closed_deal(conn: AsyncConnection, deal: Mapping[str, Any]) -> None:
    """Keep a won or lost deal for revenue reports, once per deal (unless the lead is erased)."""
    erased = select(funnel_leads.c.lead_id).where(funnel_leads.c.lead_id == deal["lead_id"],
                                                  funnel_leads.c.erased)
    values = select(*(literal(v, closed_deals.c[k].type).label(k) for k, v in deal.items())) \
        .where(~erased.exists())
    await conn.execute(pg_insert(closed_deals).from_select(list(deal), values)
                       .on_conflict_do_nothing(index_elements=[closed_deals.c.deal_id]))


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
) -> tuple[dict[Stage, int], dict[tuple[Stage, Stage], int]]:
    """Leads per stage, and leads in both stages of each conversion, in one scan.

    The window [created_from, created_to) is on when the lead was created.
    """
    c = funnel_leads.c

    def reached(stage: Stage) -> ColumnElement[bool]:
        return c[stage_column(stage)].is_not(None)

    query = select(
        *(func.count().filter(reached(s)).label(s.value) for s in FUNNEL_ORDER),
        *(func.count().filter(and_(reached(a), reached(b))).label(f"{a.value}__{b.value}")
          for a, b in CONVERSIONS),
    ).where(~c.erased)
    if created_from is not None:
        query = query.where(c.lead_at >= created_from)
    if created_to is not None:
        query = query.where(c.lead_at < created_to)
    row = (await conn.execute(query)).one()._mapping
    return (
        {s: int(row[s.value]) for s in FUNNEL_ORDER},
        {(a, b): int(row[f"{a.value}__{b.value}"]) for a, b in CONVERSIONS},
    )


LOCK_NOT_AVAILABLE = "55P03"


async def clear_read_model(conn: AsyncConnection) -> None:
    """Drop everything the read model holds (a rebuild refills it from events). Takes the
    tables' exclusive lock until the transaction ends, so live events wait for the rebuild.

    The locks are taken all at once with NOWAIT, retried until none is held by anyone: waiting
    for one table while holding another would deadlock with a report that reads the tables in
    the other order (and the report would lose). Once held, TRUNCATE waits for nothing.
    """
    names = ", ".join(table.name for table in READ_MODEL_TABLES)
    backoff = Backoff(0.01, 0.5)
    while True:
        try:
            async with conn.begin_nested():  # a failed attempt rolls back only itself
                await conn.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE NOWAIT"))
            break
        except DBAPIError as exc:
            cause = getattr(exc.orig, "__cause__", None)
            sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
            if sqlstate != LOCK_NOT_AVAILABLE:
                raise
            await backoff.sleep()
    await conn.execute(text(f"TRUNCATE {names}"))


async def count_funnel_leads(conn: AsyncConnection) -> int:
    """Leads the funnel counts (created, not erased)."""
    c = funnel_leads.c
    return int(await conn.scalar(
        select(func.count()).select_from(funnel_leads)
        .where(~c.erased, c.lead_at.is_not(None))) or 0)
