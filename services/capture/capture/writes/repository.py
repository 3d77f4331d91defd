"""The set-based statements of capture's group commits: one statement per table per batch.

SQL text on the transaction's asyncpg connection (`uow.driver()`): prepared once per connection,
arrays passed as lists and unnested server-side, so the text is the same for any batch size.
jsonb goes in as JSON text; read it with `from_jsonb`.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson


def from_jsonb(value: Any) -> Any:
    """A jsonb value read through the unit of work's connection: SQLAlchemy's codec decodes
    it already; a bare asyncpg connection hands back the JSON text."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


# --- idempotency keys ------------------------------------------------------------------------

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
                     ) -> dict[tuple[str, str], Any]:
    """Claim (scope, key, fingerprint)s for this transaction; the rows of those claimed
    before (by a committed request), by (scope, key). A concurrent claim waits for its
    transaction, as a single INSERT would."""
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
    return {(r["scope"], r["key"]): r for r in rows}


async def store_responses(db: asyncpg.Connection,
                          answers: Sequence[tuple[str, str, int, str]]) -> None:
    """Remember (scope, key, status code, stored answer as JSON text) for claimed keys."""
    if answers:
        await db.execute(_STORE_RESPONSES, [a[0] for a in answers], [a[1] for a in answers],
                         [a[2] for a in answers], [a[3] for a in answers])


# --- leads -------------------------------------------------------------------------------------

_INSERT_LEADS = """
INSERT INTO leads (id, email, profile, consent, source)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $5::jsonb[])
ON CONFLICT (email) DO NOTHING RETURNING id"""

_LOCK_BY_EMAIL = """
SELECT id, email, profile, consent, merged_into FROM leads
WHERE email = ANY($1::text[]) ORDER BY email FOR UPDATE"""

_LOCK_BY_ID = """
SELECT id, email, profile, consent, merged_into FROM leads
WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"""

_UPDATE_LEADS = """
UPDATE leads AS l SET profile = v.profile, consent = v.consent, updated_at = v.updated_at
FROM unnest($1::uuid[], $2::jsonb[], $3::jsonb[], $4::timestamptz[])
  AS v(id, profile, consent, updated_at)
WHERE l.id = v.id"""

_LEADS_BY_EMAIL = "SELECT id, email FROM leads WHERE email = ANY($1::text[])"
_LEADS_BY_ID = "SELECT id FROM leads WHERE id = ANY($1::uuid[])"


async def insert_new_leads(db: asyncpg.Connection, rows: Sequence[tuple[UUID, str, str, str, str]]
                           ) -> set[UUID]:
    """Insert (id, email, profile, consent, source JSON) rows whose email is new (in email
    order, so two batches never deadlock); the ids that went in."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda r: r[1])
    inserted = await db.fetch(_INSERT_LEADS, *([r[i] for r in ordered] for i in range(5)))
    return {r["id"] for r in inserted}


async def lock_leads_by_email(db: asyncpg.Connection, emails: Sequence[str]) -> list[Any]:
    """Stored leads among `emails`, locked in email order."""
    return list(await db.fetch(_LOCK_BY_EMAIL, list(emails))) if emails else []


async def lock_leads_by_id(db: asyncpg.Connection, lead_ids: Sequence[UUID]) -> list[Any]:
    """Leads by id, locked in id order."""
    return list(await db.fetch(_LOCK_BY_ID, list(lead_ids))) if lead_ids else []


async def update_leads(db: asyncpg.Connection,
                       rows: Sequence[tuple[UUID, str, str, datetime]]) -> None:
    """Replace (id, profile JSON, consent JSON, updated_at) of several leads."""
    if rows:
        await db.execute(_UPDATE_LEADS, *([r[i] for r in rows] for i in range(4)))


async def lead_ids_by_email(db: asyncpg.Connection, emails: Sequence[str]) -> dict[str, UUID]:
    """Lead id per stored email (merged duplicates included, as a lookup by email is)."""
    if not emails:
        return {}
    return {r["email"]: r["id"] for r in await db.fetch(_LEADS_BY_EMAIL, list(emails))}


async def existing_lead_ids(db: asyncpg.Connection, lead_ids: Sequence[UUID]) -> set[UUID]:
    """Which of these lead ids exist."""
    if not lead_ids:
        return set()
    return {r["id"] for r in await db.fetch(_LEADS_BY_ID, list(lead_ids))}


# --- activities, visitors, submissions ----------------------------------------------------------

_INSERT_ACTIVITIES = """
INSERT INTO activities (id, lead_id, visitor_id, kind, occurred_at, url, source, properties)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::text[], $7::jsonb[], $8::jsonb[])
ON CONFLICT (id) DO NOTHING RETURNING id"""

_ACTIVITIES = "SELECT id, lead_id FROM activities WHERE id = ANY($1::uuid[])"
_VISITOR_LEADS = "SELECT id, lead_id FROM visitors WHERE id = ANY($1::text[])"

_IDENTIFY = """
INSERT INTO visitors (id, lead_id, identified_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[])
ON CONFLICT (id) DO UPDATE SET lead_id = excluded.lead_id, identified_at = excluded.identified_at
"""

_ATTACH_ANONYMOUS = """
UPDATE activities AS a SET lead_id = v.lead_id
FROM unnest($1::text[], $2::uuid[]) AS v(visitor_id, lead_id)
WHERE a.visitor_id = v.visitor_id AND a.lead_id IS NULL
RETURNING a.id, a.lead_id, a.visitor_id, a.kind, a.occurred_at, a.url, a.source, a.properties"""

_INSERT_SUBMISSIONS = """
INSERT INTO submissions (id, form_id, lead_id, status, spam_reason, payload)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[])
"""


async def insert_activities(db: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]
                            ) -> set[UUID]:
    """Insert (id, lead_id, visitor_id, kind, occurred_at, url, source JSON, properties JSON)
    rows; the ids that went in (an id stored before is skipped: retries record nothing)."""
    if not rows:
        return set()
    inserted = await db.fetch(_INSERT_ACTIVITIES, *([r[i] for r in rows] for i in range(8)))
    return {r["id"] for r in inserted}


async def activity_leads(db: asyncpg.Connection, activity_ids: Sequence[UUID]
                         ) -> dict[UUID, UUID | None]:
    """The lead each stored activity belongs to (None while anonymous)."""
    if not activity_ids:
        return {}
    return {r["id"]: r["lead_id"] for r in await db.fetch(_ACTIVITIES, list(activity_ids))}


async def visitor_leads(db: asyncpg.Connection, visitor_ids: Sequence[str]
                        ) -> dict[str, UUID | None]:
    """The lead each known visitor turned out to be."""
    if not visitor_ids:
        return {}
    return {r["id"]: r["lead_id"] for r in await db.fetch(_VISITOR_LEADS, list(visitor_ids))}


async def identify_visitors(db: asyncpg.Connection, links: Sequence[tuple[str, UUID]],
                            attach: Sequence[tuple[str, UUID]], now: datetime) -> list[Any]:
    """Link visitors to leads (`links`: one per visitor, the last one wins) and attach each
    visitor's anonymous activities to a lead (`attach`); the activities attached."""
    if not links:
        return []
    # In visitor order: two batches identifying the same visitors never deadlock.
    links, attach = sorted(links), sorted(attach)
    await db.execute(_IDENTIFY, [v for v, _ in links], [lead for _, lead in links],
                     [now] * len(links))
    return list(await db.fetch(_ATTACH_ANONYMOUS, [v for v, _ in attach],
                               [lead for _, lead in attach]))


async def insert_submissions(db: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert (id, form_id, lead_id, status, spam_reason, payload JSON) rows."""
    if rows:
        await db.execute(_INSERT_SUBMISSIONS, *([r[i] for r in rows] for i in range(6)))
