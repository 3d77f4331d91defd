"""Closure queries: one closure per lead."""

from dataclasses import asdict
from uuid import UUID

from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from outcomes.closures.domain import Closure
from outcomes.tables import deals, lead_closures

_COLUMNS = [lead_closures.c[name] for name in Closure.__dataclass_fields__]


async def has_won_deal(conn: AsyncConnection, lead_id: UUID) -> bool:
    """Whether a sales tool reported a won deal of the lead."""
    return bool(await conn.scalar(select(exists().where(deals.c.lead_id == lead_id,
                                                        deals.c.status == "won"))))


async def insert_closure_if_new(conn: AsyncConnection, closure: Closure) -> bool:
    """Store the lead's closure unless it has one; True when this call stored it."""
    inserted = await conn.scalar(pg_insert(lead_closures).values(**asdict(closure))
                                 .on_conflict_do_nothing(index_elements=[lead_closures.c.lead_id])
                                 .returning(lead_closures.c.closure_id))
    return inserted is not None


async def lock_closure(conn: AsyncConnection, lead_id: UUID) -> Closure | None:
    """The lead's stored closure, locked until the transaction ends; None without one."""
    row = (await conn.execute(select(*_COLUMNS).where(lead_closures.c.lead_id == lead_id)
                              .with_for_update())).one_or_none()
    return None if row is None else Closure(**row._mapping)


async def anonymize_closures(conn: AsyncConnection, lead_id: UUID, anonymous_id: UUID) -> None:
    """Detach an erased lead's closure from it: the reason code stays, the note goes."""
    await conn.execute(update(lead_closures).where(lead_closures.c.lead_id == lead_id)
                       .values(lead_id=anonymous_id, note=None))
