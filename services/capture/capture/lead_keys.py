"""Data keys for leads created in bulk, issued set-based before the unit of work seals events.

`UnitOfWork.commit` seals each event's personal fields under its lead's key and, for leads
without one, issues it (leadloop.keyring): a multi-row VALUES insert of the keys and one of their
keys-topic records, compiled anew for every batch size. A batch of new leads issues its keys
here instead, with two statements whose text never changes, and seals their events with the
keys in hand, so that sealing at commit has no key to look up for them. The records are
exactly what the keyring writes (its own `_key_record`), the sealed fields exactly what it
seals (`leadloop.pii.seal`).
"""

import base64
from collections.abc import Sequence

import asyncpg

from leadloop.db import UnitOfWork
from leadloop.events import EventData, event_type_of
from leadloop.keyring import _key_record
from leadloop.pii import new_data_key, seal

_INSERT_KEYS = """
INSERT INTO lead_keys (lead_id, data_key)
SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING RETURNING lead_id"""

_INSERT_OUTBOX = """
INSERT INTO outbox (event_id, topic, event_type, subject, source, occurred_at, traceparent, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::bytea[])"""

_COLUMNS = ("event_id", "topic", "event_type", "subject", "source", "occurred_at",
            "traceparent", "data")


async def issue_keys(db: asyncpg.Connection, lead_ids: Sequence[str], source: str
                     ) -> dict[str, bytes]:
    """Give each new lead its data key and queue the key for the keys topic; the keys issued
    (by lead id), to seal the new leads' events with (`publish_sealed`)."""
    if not lead_ids:
        return {}
    fresh = {lead_id: new_data_key() for lead_id in lead_ids}
    issued = {row["lead_id"]: fresh[row["lead_id"]]
              for row in await db.fetch(_INSERT_KEYS, list(fresh), list(fresh.values()))}
    records = [_key_record(lead_id, {"data_key": _b64(key)}, source)
               for lead_id, key in issued.items()]
    if records:
        await db.execute(_INSERT_OUTBOX, *([r[c] for r in records] for c in _COLUMNS))
    return issued


def publish_sealed(uow: UnitOfWork, event: EventData, key: bytes | None) -> None:
    """Publish `event`, its personal fields already sealed under `key` when we hold the lead's
    fresh key (sealing at commit then has nothing to look up); as usual otherwise."""
    if key is None:
        uow.publish(event)
        return
    subject = str(event.lead_id)  # type: ignore[attr-defined]
    uow.publish_validated(event_type_of(event), subject,
                          seal(event.model_dump(mode="json"), subject, key))


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()
