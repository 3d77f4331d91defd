"""Storing each lead's owner and qualification state (capture.sales.domain)."""

from capture.sales.domain import SalesState
from leadloop.db import UnitOfWork

# One statement for the whole batch; each half is replaced only by a later event's.
_UPSERT = """
INSERT INTO lead_sales_states AS s (lead_id, owner_rep_id, owner_at, qualification,
                                    qualification_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::timestamptz[])
ON CONFLICT (lead_id) DO UPDATE SET
    owner_rep_id = CASE WHEN EXCLUDED.owner_at IS NOT NULL
                             AND (s.owner_at IS NULL OR EXCLUDED.owner_at >= s.owner_at)
                        THEN EXCLUDED.owner_rep_id ELSE s.owner_rep_id END,
    owner_at = GREATEST(s.owner_at, EXCLUDED.owner_at),
    qualification = CASE WHEN EXCLUDED.qualification_at IS NOT NULL
                              AND (s.qualification_at IS NULL
                                   OR EXCLUDED.qualification_at >= s.qualification_at)
                         THEN EXCLUDED.qualification ELSE s.qualification END,
    qualification_at = GREATEST(s.qualification_at, EXCLUDED.qualification_at)
"""


async def save(uow: UnitOfWork, states: list[SalesState]) -> None:
    """Store what the batch said, leaving each half as it is where the stored one is newer."""
    if not states:
        return
    db = await uow.driver()
    await db.execute(_UPSERT, [s.lead_id for s in states], [s.owner_rep_id for s in states],
                     [s.owner_at for s in states],
                     [s.qualification.value if s.qualification else None for s in states],
                     [s.qualification_at for s in states])
