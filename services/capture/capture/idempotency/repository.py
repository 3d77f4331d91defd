"""Idempotency-Key claims and the answers stored for them (set-based: one statement per batch,
on the transaction's asyncpg connection)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.leads.repository import from_jsonb, to_json


@dataclass(frozen=True)
class StoredAnswer:
    """What a key's first request was (its fingerprint) and the answer it got (None while that
    request has stored none: it failed, or is still running)."""

    request_sha256: str
    status_code: int | None
    response: dict[str, Any] | None


_CLAIM_KEYS = """
INSERT INTO idempotency_keys (scope, key, request_sha256)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT DO NOTHING RETURNING scope, key"""

_KEYS = """
SELECT k.scope, k.key, k.request_sha256, k.status_code, k.response
FROM idempotency_keys AS k JOIN unnest($1::text[], $2::text[]) AS w(scope, key)
  ON k.scope = w.scope AND k.key = w.key"""

_STORE_RESPONSES = """
UPDATE idempotency_keys AS k SET status_code = v.status_code, response = v.response
FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[]) AS v(scope, key, status_code, response)
WHERE k.scope = v.scope AND k.key = v.key"""


async def claim_keys(db: asyncpg.Connection, claims: Sequence[tuple[str, str, str]]
                     ) -> dict[tuple[str, str], StoredAnswer]:
    """Claim (scope, key, fingerprint)s for this transaction; what those claimed before (by a
    committed request) got, by (scope, key). A concurrent first request holds its row until it
    commits, so a retry waits for it and then sees its answer, or claims the key itself if the
    first rolled back."""
    if not claims:
        return {}
    claims = sorted(claims)  # two batches claim in one order: they never deadlock
    claimed = await db.fetch(_CLAIM_KEYS, [c[0] for c in claims], [c[1] for c in claims],
                             [c[2] for c in claims])
    mine = {(r["scope"], r["key"]) for r in claimed}
    taken = [c for c in claims if (c[0], c[1]) not in mine]
    if not taken:
        return {}
    rows = await db.fetch(_KEYS, [c[0] for c in taken], [c[1] for c in taken])
    return {(r["scope"], r["key"]): StoredAnswer(
        r["request_sha256"], r["status_code"],
        cast("dict[str, Any] | None", from_jsonb(r["response"]))) for r in rows}


async def store_answers(db: asyncpg.Connection,
                        answers: Sequence[tuple[str, str, int, dict[str, Any]]]) -> None:
    """Remember (scope, key, status code, stored answer) for claimed keys."""
    if answers:
        await db.execute(_STORE_RESPONSES, [a[0] for a in answers], [a[1] for a in answers],
                         [a[2] for a in answers], [to_json(a[3]) for a in answers])


# A batch at a time keeps each transaction short; SKIP LOCKED lets a replica purging at the same
# time (or a request replaying a key) go on without waiting.
_PURGE_KEYS = text("""
DELETE FROM idempotency_keys WHERE (scope, key) IN (
    SELECT scope, key FROM idempotency_keys
    WHERE created_at < now() - make_interval(secs => :retention_s)
    LIMIT :batch FOR UPDATE SKIP LOCKED)
""")


async def purge_answers(conn: AsyncConnection, retention_s: float, batch: int) -> int:
    """Delete up to `batch` keys older than `retention_s` seconds; how many went."""
    result = await conn.execute(_PURGE_KEYS, {"retention_s": retention_s, "batch": batch})
    return result.rowcount
