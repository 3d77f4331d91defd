"""P5: due sequence steps sent per minute through real SMTP into the local sink.

    /tmp/venv/bin/python bench/nurture_send_rate.py [--leads 20000] [--batch 200] [--smtp 8]
                                                    [--keep]

On its own it starts nurture with PostgreSQL, Kafka and the SMTP sink in a temporary folder (as
the tests do); under `make bench` (P5) it uses the bench stack's running nurture. Either way it
creates a one-step sequence without caps or quiet hours, and stores `--leads` consenting leads
enrolled in it with their step far in the future. Then one UPDATE makes every step due at once,
and the clock runs until every message is recorded as sent: each one rendered from its Jinja2
template, sent over SMTP, its position, message row and nurture.message_sent event committed in
the scheduler's transaction. Afterwards the sink must hold exactly one .eml file per lead.
"""

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.stack import Stack

TARGET_PER_MINUTE = 10_000
LEADS = 20_000
SEND_TIMEOUT_S = 900.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_sequence(http: httpx.AsyncClient, nurture_url: str, admin_key: str) -> str:
    """A one-step sequence no real lead enters (its own segment); returns its key."""
    key = f"bench-{uuid.uuid4().hex[:8]}"
    r = await http.post(f"{nurture_url}/v1/sequences", headers={"X-API-Key": admin_key}, json={
        "key": key, "entry_rule": "new_unqualified_lead",
        "segment": {"utm_campaign": [f"{key}-only"]},
        "steps": [{"kind": "send_email", "template": "welcome"}],
        "guards": {"max_per_day": 1000, "max_per_week": 1000, "quiet_hours": None}})
    r.raise_for_status()
    return key


async def seed(dsn: str, key: str, leads: int) -> None:
    """Consenting leads, each enrolled in the bench sequence with its step not yet due."""
    now = datetime.now(UTC)
    later = now + timedelta(days=365)
    ids = [uuid.uuid4() for _ in range(leads)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "lead_states", columns=["lead_id", "created_at", "email", "first_name", "company",
                                    "email_consent", "profile_at"],
            records=[(i, now, f"{key}.{n}@bench-{n % 1000}.example", f"Lead{n}", "Bench Ltd",
                      True, now) for n, i in enumerate(ids)])
        await conn.copy_records_to_table(
            "enrollments", columns=["id", "lead_id", "sequence_key", "sequence_version",
                                    "status", "current_step", "next_step_due_at", "enrolled_at",
                                    "step_started_at"],
            records=[(uuid.uuid4(), i, key, 1, "active", 0, later, now, now) for i in ids])
    finally:
        await conn.close()


async def measure(dsn: str, key: str, leads: int) -> float | None:
    """Make every step due, then time until all are sent; None if they were not in time."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.execute("UPDATE enrollments SET next_step_due_at = now(), "
                           "step_started_at = now() WHERE sequence_key = $1", key)
        while True:
            sent = await conn.fetchval("SELECT count(*) FROM messages WHERE sequence_key = $1 "
                                       "AND status = 'sent'", key)
            elapsed = time.perf_counter() - started
            if sent >= leads:
                return elapsed
            if elapsed > SEND_TIMEOUT_S:
                return None
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def count_in_sink(maildir: Path, key: str) -> int:
    """.eml files in the sink sent for the bench sequence (its header names the key)."""
    marker = f"X-LeadLoop-Sequence: {key}/".encode()
    found = 0
    for path in maildir.glob("*.eml"):
        with path.open("rb") as f:
            if marker in f.read(4096):
                found += 1
    return found


async def send_rate(nurture_url: str, admin_key: str, dsn: str, maildir: Path,
                    leads: int) -> dict[str, Any]:
    """Seed, make due, time; the figure is sends per minute, met when >= the target and the
    sink holds one message per lead."""
    async with httpx.AsyncClient(timeout=30) as http:
        key = await create_sequence(http, nurture_url, admin_key)
    await seed(dsn, key, leads)
    load_before = [round(x, 2) for x in os.getloadavg()]
    elapsed = await measure(dsn, key, leads)
    load_after = [round(x, 2) for x in os.getloadavg()]
    in_sink = await asyncio.to_thread(count_in_sink, maildir, key)
    per_minute = None if elapsed is None else leads / elapsed * 60
    met = per_minute is not None and per_minute >= TARGET_PER_MINUTE and in_sink == leads
    return {"figure": per_minute, "target": f">= {TARGET_PER_MINUTE:,}/min", "met": met,
            "leads": leads, "elapsed_s": elapsed, "messages_in_sink": in_sink,
            "load_average_before": load_before, "load_average_after": load_after}


async def run(bench: Any) -> dict[str, Any]:
    """P5 under `make bench`: against the bench stack's nurture (default batch and pool)."""
    stack: Stack = bench.stack
    return await send_rate(stack.url("nurture"), stack.admin_key, bench.dsn("nurture"),
                           stack.smtp.maildir, LEADS)


def describe(result: dict[str, Any]) -> str:
    """One line for people."""
    if result["figure"] is None:
        return f"{result['leads']:,} due steps not all sent within {SEND_TIMEOUT_S:.0f} s"
    return (f"{result['leads']:,} due steps sent over SMTP in {result['elapsed_s']:.1f} s: "
            f"{result['figure']:,.0f} per minute (target {result['target']}: "
            f"{'PASS' if result['met'] else 'FAIL'}); sink holds "
            f"{result['messages_in_sink']:,}; load average "
            f"{result['load_average_before']} -> {result['load_average_after']}")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=LEADS)
    parser.add_argument("--batch", type=int, default=200, help="enrollments per transaction")
    parser.add_argument("--smtp", type=int, default=8, help="SMTP connections")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-nurture-"))
    settings = StackSettings(home=home, postgres_port=_free_port(), kafka_port=_free_port(),
                             kafka_controller_port=_free_port(), smtp_port=_free_port(),
                             ports={name: _free_port() for name in DEFAULT_PORTS},
                             services=("nurture",))
    stack = Stack(settings, service_env={
        "LEADLOOP_NURTURE_SCHEDULER_BATCH_SIZE": str(args.batch),
        "LEADLOOP_NURTURE_SMTP_CONNECTIONS": str(args.smtp)})
    await stack.start()
    try:
        dsn = settings.database_url_for("nurture").replace("+asyncpg", "")
        result = await send_rate(stack.url("nurture"), stack.admin_key, dsn,
                                 stack.smtp.maildir, args.leads)
    finally:
        await stack.stop()
        if args.keep:
            print(f"stack folder kept: {home}")
        else:  # 20,000 .eml files and a database: not something to leave in /tmp
            shutil.rmtree(home, ignore_errors=True)
    print(describe(result) + f" (batch {args.batch}, {args.smtp} SMTP connections)")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
