"""Deals' queries: the deals sales tools reported, one row per external id."""

from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from outcomes.deals.domain import Deal, DealStatus
from outcomes.tables import deals

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
