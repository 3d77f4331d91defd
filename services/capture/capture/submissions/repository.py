"""Storing form submissions (every one, spam included, with its raw body)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from capture.leads.repository import to_json

_INSERT_SUBMISSIONS = """
INSERT INTO submissions (id, form_id, lead_id, status, spam_reason, payload)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[])
"""


@dataclass(frozen=True)
class StoredSubmission:
    """A submission as recorded: its lead (None for spam), status, why and what was posted."""

    id: UUID
    form_id: str
    lead_id: UUID | None
    status: str
    reason: str | None
    payload: dict[str, Any]


async def insert_submissions(db: asyncpg.Connection, rows: Sequence[StoredSubmission]) -> None:
    """Record a batch's submissions (one statement)."""
    if rows:
        await db.execute(_INSERT_SUBMISSIONS, [r.id for r in rows], [r.form_id for r in rows],
                         [r.lead_id for r in rows], [r.status for r in rows],
                         [r.reason for r in rows], [to_json(r.payload) for r in rows])
