"""P4: a 100,000-row CSV import (rows/s) ÷ PostgreSQL COPY of the same durable work.

The import is capture's real one: POST /v1/imports (text/csv), then GET /v1/imports/{id} until
it is no longer running; every row is validated like POST /v1/leads, deduped, stored and its
lead.created written to the outbox. The baseline does the same durable writes with nothing
else: it COPYs the same rows (email lower-cased, the other columns as a JSONB profile) into a
table created LIKE capture's `leads` (same columns, unique email index) and one lead.created
row per lead (its JSON as the record value) into a table created LIKE capture's `outbox` (same
columns, indexes and id sequence), with asyncpg's copy_records_to_table in one transaction, in
capture's own database. Building the records is not timed.
"""

import asyncio
import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.harness import Bench, summary
from bench.p4_floor import drop_floor_tables, floor_import

TARGET = 0.5
HEADER = ["email", "first_name", "last_name", "company", "job_title", "country", "phone",
          "company_size", "industry"]
COUNTRIES = {"DE": "030 1234567", "FR": "01 23 45 67 89", "US": "(415) 555-0100",
             "GB": "020 7946 0958", "NL": "020 123 4567", "ES": "912 345 678"}
COPY_TABLE = "bench_copy_leads"
COPY_OUTBOX = "bench_copy_outbox"


def make_rows(count: int, tag: str) -> list[list[str]]:
    """Rows like a trade-fair list: unique emails, every column filled."""
    countries = list(COUNTRIES)
    rows = []
    for n in range(count):
        country = countries[n % len(countries)]
        rows.append([f"Person.{tag}.{n}@Company-{n % 5000}.com", f"Person{n}", "Example",
                     f"Company {n % 5000}", "Head of Marketing", country, COUNTRIES[country],
                     str(10 + n % 5000), "Software"])
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    """The rows as CSV bytes with a header line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


async def has_import_endpoint(bench: Bench) -> bool:
    """Whether capture's OpenAPI document lists POST /v1/imports."""
    response = await bench.http.get(bench.url("capture", "/openapi.json"))
    return "post" in response.json().get("paths", {}).get("/v1/imports", {})


async def _import(bench: Bench, body: bytes) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    posted = await bench.http.post(bench.url("capture", "/v1/imports"), content=body,
                                   headers={"Content-Type": "text/csv"})
    posted.raise_for_status()
    url = bench.url("capture", f"/v1/imports/{posted.json()['import_id']}")
    while True:
        report: dict[str, Any] = (await bench.http.get(url)).json()
        if report["status"] != "running":
            return time.monotonic() - started, report
        await asyncio.sleep(0.1)


async def _copy(bench: Bench, rows: list[list[str]]) -> float:
    leads, events = [], []
    now = datetime.now(UTC)
    for row in rows:
        lead_id = uuid.uuid4()
        profile = {"email": row[0].lower(), **dict(zip(HEADER[1:], row[1:], strict=True))}
        leads.append((lead_id, row[0].lower(), json.dumps(profile),
                      '{"email_marketing": false}', '{"channel": "import"}'))
        data = {"lead_id": str(lead_id), "profile": profile,
                "consent": {"email_marketing": False}, "source": {"channel": "import"},
                "form_id": None, "created_at": now.isoformat()}
        events.append((str(uuid.uuid4()), "leadloop.capture", "leadloop.lead.created.v1",
                       str(lead_id), "capture", now,
                       f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
                       json.dumps(data).encode()))
    conn = await asyncpg.connect(bench.dsn("capture"))
    try:
        await _drop_copy_tables(conn)
        await conn.execute(f"CREATE TABLE {COPY_TABLE} (LIKE leads INCLUDING ALL)")
        await conn.execute(f"CREATE TABLE {COPY_OUTBOX} (LIKE outbox INCLUDING ALL)")
        started = time.monotonic()
        async with conn.transaction():
            await conn.copy_records_to_table(
                COPY_TABLE, records=leads, columns=["id", "email", "profile", "consent",
                                                    "source"])
            await conn.copy_records_to_table(
                COPY_OUTBOX, records=events, columns=["event_id", "topic", "event_type",
                                                      "subject", "source", "occurred_at",
                                                      "traceparent", "data"])
        return time.monotonic() - started
    finally:
        await _drop_copy_tables(conn)
        await conn.close()


async def _floor(bench: Bench, body: bytes) -> float:
    """Seconds the same import's minimal durable work takes (bench/p4_floor.py)."""
    conn = await asyncpg.connect(bench.dsn("capture"))
    try:
        return await floor_import(conn, body)
    finally:
        await drop_floor_tables(conn)
        await conn.close()


async def _drop_copy_tables(conn: asyncpg.Connection) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
    await conn.execute(f"DROP TABLE IF EXISTS {COPY_OUTBOX}")


async def run(bench: Bench) -> dict[str, Any]:
    """Import, let the outbox drain, then COPY; the ratio of rows per second."""
    if not await has_import_endpoint(bench):
        return summary(None, f">= {TARGET}", None, status="n/a: no import endpoint")
    await bench.stop_downstream()  # the import's 100,000 lead.created would wake them all
    rows = make_rows(bench.durations.p4_rows, uuid.uuid4().hex[:8])
    body = to_csv(rows)
    before = bench.meter.snapshot()
    import_s, report = await _import(bench, body)
    outbox_started = time.monotonic()
    await bench.wait_outboxes_empty(bench.durations.drain_timeout_s, ("capture",))
    outbox_s = time.monotonic() - outbox_started
    usage = bench.usage(before, ("capture",))  # the import and publishing its events
    copy_s = await _copy(bench, rows)
    floor_s = await _floor(bench, body)
    import_rate, copy_rate = len(rows) / import_s, len(rows) / copy_s
    ratio = import_rate / copy_rate
    return summary(
        ratio, f">= {TARGET}", ratio >= TARGET and report["status"] == "completed",
        rows=len(rows), csv_mb=len(body) / 1e6, import_s=import_s,
        import_rows_per_s=import_rate, copy_s=copy_s, copy_rows_per_s=copy_rate,
        floor_s=floor_s, floor_rows_per_s=len(rows) / floor_s,
        floor_ratio=(len(rows) / floor_s) / copy_rate,
        report={k: report.get(k) for k in ("status", "rows_total", "created", "updated",
                                           "unchanged", "failed")},
        outbox_drain_after_import_s=outbox_s, cpu_s=usage.by_process,
        cpu_per_lead=usage.per_lead(len(rows)))
