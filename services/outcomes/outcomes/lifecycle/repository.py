"""The queries of leads' lifecycle stages (outcomes.lifecycle.domain)."""

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.lifecycle import LifecycleStage
from outcomes.lifecycle.domain import LeadLifecycle
from outcomes.tables import lead_lifecycle

_COLUMNS = ("lead_id", "stage", "stage_at", "first_won_deal_id", "reset_at", "erased")

# Rows for leads not seen yet, then every row locked in lead-id order: two replicas applying
# events of the same lead (from two topics) take turns, and never deadlock.
_ENSURE_ROWS = ("INSERT INTO lead_lifecycle (lead_id) SELECT id FROM unnest($1::uuid[]) AS id "
                "ORDER BY id ON CONFLICT (lead_id) DO NOTHING")
_LOCK_ROWS = (f"SELECT {', '.join(_COLUMNS)} FROM lead_lifecycle WHERE lead_id = ANY($1::uuid[]) "
              "ORDER BY lead_id FOR UPDATE")
_SAVE_ROWS = (
    "UPDATE lead_lifecycle l SET stage = t.stage, stage_at = t.stage_at, "
    "first_won_deal_id = t.first_won_deal_id, reset_at = t.reset_at, updated_at = now() "
    "FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::timestamptz[]) "
    "AS t(lead_id, stage, stage_at, first_won_deal_id, reset_at) "
    "WHERE l.lead_id = t.lead_id AND NOT l.erased")


def _lifecycle_of(row: Any) -> LeadLifecycle:
    stage = row["stage"]
    return LeadLifecycle(lead_id=row["lead_id"], stage=LifecycleStage(stage) if stage else None,
                         stage_at=row["stage_at"], first_won_deal_id=row["first_won_deal_id"],
                         reset_at=row["reset_at"], erased=row["erased"])


async def lock_stages(driver: asyncpg.Connection, lead_ids: Sequence[UUID]
                      ) -> dict[UUID, LeadLifecycle]:
    """Every lead's stage row (made when missing), locked until the transaction ends."""
    await driver.execute(_ENSURE_ROWS, list(lead_ids))
    rows = await driver.fetch(_LOCK_ROWS, list(lead_ids))
    return {row["lead_id"]: _lifecycle_of(row) for row in rows}


async def save_stages(driver: asyncpg.Connection, rows: Iterable[LeadLifecycle]) -> None:
    """Store the leads' new stage rows in one statement."""
    rows = sorted(rows, key=lambda r: r.lead_id)
    if rows:
        await driver.execute(
            _SAVE_ROWS, [r.lead_id for r in rows],
            [r.stage.value if r.stage else None for r in rows], [r.stage_at for r in rows],
            [r.first_won_deal_id for r in rows], [r.reset_at for r in rows])


async def lock_stage(conn: AsyncConnection, lead_id: UUID) -> LeadLifecycle | None:
    """One lead's stage row, locked; None when outcomes has never heard of the lead."""
    row = (await conn.execute(
        select(lead_lifecycle).where(lead_lifecycle.c.lead_id == lead_id).with_for_update()
    )).one_or_none()
    return None if row is None else _lifecycle_of(row._mapping)


async def get_stage(conn: AsyncConnection, lead_id: UUID) -> LeadLifecycle | None:
    """One lead's stage row (None when never heard of)."""
    row = (await conn.execute(
        select(lead_lifecycle).where(lead_lifecycle.c.lead_id == lead_id))).one_or_none()
    return None if row is None else _lifecycle_of(row._mapping)


async def save_stage(conn: AsyncConnection, row: LeadLifecycle) -> None:
    """Store one lead's stage row (an admin's reset)."""
    await conn.execute(
        update(lead_lifecycle).where(lead_lifecycle.c.lead_id == row.lead_id)
        .values(stage=row.stage.value if row.stage else None, stage_at=row.stage_at,
                first_won_deal_id=row.first_won_deal_id, reset_at=row.reset_at))


async def erase_stage(conn: AsyncConnection, lead_id: UUID) -> None:
    """Keep only a tombstone of an erased lead's stage, so late events announce nothing."""
    values = {"stage": None, "stage_at": None, "first_won_deal_id": None, "reset_at": None,
              "erased": True}
    await conn.execute(
        pg_insert(lead_lifecycle).values(lead_id=lead_id, **values)
        .on_conflict_do_update(index_elements=[lead_lifecycle.c.lead_id], set_=values))
