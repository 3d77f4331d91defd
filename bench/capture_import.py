"""Bench: bulk CSV import rows/s against PostgreSQL COPY of the same rows into the same table.

    /tmp/venv/bin/python bench/capture_import.py [--rows 100000]

Starts capture with PostgreSQL and Kafka in a temporary folder (as the tests do), writes a CSV
of `--rows` realistic rows (about 200 bytes each), POSTs it to /v1/imports and polls
GET /v1/imports/{id} until it completes (every row validated and normalized, deduped, written,
and its lead.created event in the outbox). Then it COPYs the same rows, unvalidated, into the
same `leads` table with asyncpg's binary COPY, and prints both rates and their ratio.
"""

import argparse
import asyncio
import csv
import io
import json
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.stack import Stack

COUNTRIES = ["DE", "FR", "US", "GB", "NL", "ES", "IT", "SE"]
PHONES = {"DE": "030 1234567", "FR": "01 23 45 67 89", "US": "(415) 555-0100",
          "GB": "020 7946 0958", "NL": "020 123 4567", "ES": "912 345 678",
          "IT": "06 1234 5678", "SE": "08 123 456 78"}
HEADER = ["email", "first_name", "last_name", "company", "job_title", "country", "phone",
          "company_size", "industry", "notes"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_rows(count: int, tag: str) -> list[list[str]]:
    """Rows like a trade-fair list: every column filled, a free-text note."""
    rows = []
    for n in range(count):
        country = COUNTRIES[n % len(COUNTRIES)]
        rows.append([f"Person.{n}.{tag}@Company-{n % 5000}.example", f" Person{n} ", "Example",
                     f"Company {n % 5000} GmbH", "Head of Marketing", country.lower(),
                     PHONES[country], str(10 + n % 5000), "Software",
                     f"Met at booth {n % 40}; interested in routing and scoring; follow up "
                     f"in Q{n % 4 + 1}. Ref {uuid.uuid4().hex}"])
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    """The rows as a CSV file's bytes, with the header."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


async def run_import(stack: Stack, body: bytes) -> tuple[float, dict[str, object]]:
    """Seconds from POST to 'completed', and the final import report."""
    headers = {"X-API-Key": stack.admin_key, "Content-Type": "text/csv"}
    async with httpx.AsyncClient(timeout=300) as http:
        started = time.perf_counter()
        posted = await http.post(f"{stack.url('capture')}/v1/imports", headers=headers,
                                 content=body)
        posted.raise_for_status()
        url = f"{stack.url('capture')}/v1/imports/{posted.json()['import_id']}"
        while True:
            report = (await http.get(url, headers=headers)).json()
            if report["status"] != "running":
                return time.perf_counter() - started, report
            await asyncio.sleep(0.2)


async def run_copy(dsn: str, rows: list[list[str]]) -> float:
    """Seconds to COPY the same rows (lowercased email, JSONB columns) into `leads`."""
    records = []
    for row in rows:
        profile = dict(zip(HEADER[1:], row[1:], strict=True))
        records.append((uuid.uuid4(), "copy-" + row[0].lower(), json.dumps(profile),
                        '{"email_marketing": false}', '{"channel": "import"}'))
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "leads", records=records, columns=["id", "email", "profile", "consent", "source"])
        return time.perf_counter() - started
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-import-"))
    settings = StackSettings(home=home, postgres_port=_free_port(), kafka_port=_free_port(),
                             kafka_controller_port=_free_port(), services=("capture",),
                             ports={name: _free_port() for name in DEFAULT_PORTS})
    stack = Stack(settings)
    await stack.start()
    try:
        rows = make_rows(args.rows, uuid.uuid4().hex[:6])
        body = to_csv(rows)
        import_s, report = await run_import(stack, body)
        dsn = settings.database_url_for("capture").replace("+asyncpg", "")
        copy_s = await run_copy(dsn, rows)
    finally:
        await stack.stop()
    import_rate, copy_rate = args.rows / import_s, args.rows / copy_s
    print(f"rows: {args.rows}, CSV: {len(body) / 1e6:.1f} MB, report: "
          f"{ {k: report[k] for k in ('status', 'created', 'updated', 'failed')} }")
    print(f"import: {import_s:.1f} s ({import_rate:,.0f} rows/s)")
    print(f"COPY:   {copy_s:.2f} s ({copy_rate:,.0f} rows/s)")
    print(f"ratio import/COPY: {import_rate / copy_rate:.3f} (target >= 0.5)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
