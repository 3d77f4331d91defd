"""P4's floor: the durable work of an import done by a minimal script, with no framework.

What an import must do for each new lead, whatever code does it: parse the CSV row, normalize
email, names, country and phone with the same functions as POST /v1/leads, issue the lead's data
key, seal the personal fields of its lead.created under that key, and store the lead, the key,
the event and the key's record for the keys topic, a transaction per 1,000 rows. Here it is a
plain loop over `csv.reader` feeding asyncpg COPYs into tables made LIKE capture's: no HTTP, no
pydantic, no SQLAlchemy, no dedupe against existing leads, no progress rows, no relay. Nothing
an import does is left out that would make this cheaper than the real work, so its rate bounds
what the import can reach on this machine; P4's reference (COPY of the leads and one event row
each, built before the clock starts) divided into it says how much of P4's target is reachable.
"""

import base64
import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from capture.leads.domain import clean_text, normalize_country, normalize_email, normalize_phone
from leadloop.events.topology import KEYS_TOPIC
from leadloop.keyring import KEY_RECORD_TYPE
from leadloop.pii import new_data_key, seal

CHUNK = 1_000
TABLES = {"leads": "bench_floor_leads", "outbox": "bench_floor_outbox",
          "lead_keys": "bench_floor_keys"}
_LEAD_COLUMNS = ["id", "email", "profile", "consent", "source"]
_OUTBOX_COLUMNS = ["event_id", "topic", "event_type", "subject", "source", "occurred_at",
                   "traceparent", "data"]
_TEXT = ("first_name", "last_name", "company", "job_title", "industry")


def _row_records(row: dict[str, str], now: datetime, now_json: str
                 ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...]]:
    """A lead row, its two outbox rows (lead.created, the key record) and its key row."""
    profile: dict[str, Any] = {name: clean_text(row[name]) for name in _TEXT}
    profile["email"] = normalize_email(row["email"])
    profile["country"] = normalize_country(row["country"])
    profile["phone"] = normalize_phone(row["phone"], profile["country"])
    profile["company_size"] = int(row["company_size"])
    lead_id = uuid.uuid4()
    subject = str(lead_id)
    key = new_data_key()
    consent, source = {"email_marketing": False}, {"channel": "import"}
    created = seal({"lead_id": subject, "profile": profile, "consent": consent,
                    "source": source, "form_id": None, "created_at": now_json}, subject, key)
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    events = [
        (str(uuid.uuid4()), "leadloop.capture", "leadloop.lead.created.v1", subject, "capture",
         now, traceparent, orjson.dumps(created)),
        (f"key-{subject}", KEYS_TOPIC, KEY_RECORD_TYPE, subject, "capture", now, traceparent,
         orjson.dumps({"lead_id": subject, "data_key": base64.b64encode(key).decode()})),
    ]
    lead = (lead_id, profile["email"], orjson.dumps(profile).decode(), orjson.dumps(consent)
            .decode(), orjson.dumps(source).decode())
    return lead, events, (subject, key)


async def floor_import(conn: asyncpg.Connection, body: bytes) -> float:
    """Seconds the minimal import of `body` (CSV with a header) takes, into fresh tables."""
    await drop_floor_tables(conn)
    for like, table in TABLES.items():
        await conn.execute(f"CREATE TABLE {table} (LIKE {like} INCLUDING ALL)")
    started = time.monotonic()
    rows = csv.DictReader(io.StringIO(body.decode()))
    while True:
        now = datetime.now(UTC)
        now_json = now.isoformat()
        leads, events, keys = [], [], []
        for row in rows:
            lead, lead_events, key = _row_records(row, now, now_json)
            leads.append(lead)
            events.extend(lead_events)
            keys.append(key)
            if len(leads) == CHUNK:
                break
        if not leads:
            return time.monotonic() - started
        async with conn.transaction():
            await conn.copy_records_to_table(TABLES["leads"], records=leads,
                                             columns=_LEAD_COLUMNS)
            await conn.copy_records_to_table(TABLES["lead_keys"], records=keys,
                                             columns=["lead_id", "data_key"])
            await conn.copy_records_to_table(TABLES["outbox"], records=events,
                                             columns=_OUTBOX_COLUMNS)


async def drop_floor_tables(conn: asyncpg.Connection) -> None:
    for table in TABLES.values():
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
