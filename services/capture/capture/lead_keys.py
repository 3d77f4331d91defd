"""Data keys for leads created in bulk, issued set-based before the unit of work seals events.

`UnitOfWork.commit` seals each event's personal fields under its lead's key and, for leads
without one, issues it (leadloop.keyring): a multi-row VALUES insert of the keys and one of their
keys-topic records, compiled anew for every batch size. A batch of new leads issues its keys
here instead, with two statements whose text never changes; sealing then finds every key.
The records are exactly what the keyring writes (its own `_key_record`).
"""

import base64
from collections.abc import Sequence

import asyncpg

from leadloop.keyring import _key_record
from leadloop.pii import new_data_key

_INSERT_KEYS = """
INSERT INTO lead_keys (lead_id, data_key)
SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING RETURNING lead_id"""

_INSERT_OUTBOX = """
INSERT INTO outbox (event_id, topic, event_type, subject, source, occurred_at, traceparent, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::bytea[])"""

_COLUMNS = ("event_id", "topic", "event_type", "subject", "source", "occurred_at",
            "traceparent", "data")


async def issue_keys(db: asyncpg.Connection, lead_ids: Sequence[str], source: str) -> None:
    """Give each new lead its data key and queue the key for the keys topic."""
    if not lead_ids:
        return
    fresh = {lead_id: new_data_key() for lead_id in lead_ids}
    issued = await db.fetch(_INSERT_KEYS, list(fresh), list(fresh.values()))
    records = [_key_record(row["lead_id"], {"data_key": _b64(fresh[row["lead_id"]])}, source)
               for row in issued]
    if records:
        await db.execute(_INSERT_OUTBOX, *([r[c] for r in records] for c in _COLUMNS))


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()
