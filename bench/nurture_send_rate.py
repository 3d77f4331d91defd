"""Bench: due sequence steps sent per minute through real SMTP into the local sink.

    /tmp/venv/bin/python bench/nurture_send_rate.py [--leads 20000] [--batch 200] [--smtp 8]

Starts nurture with PostgreSQL, Kafka and the SMTP sink in a temporary folder (as the tests
do), creates a one-step sequence without caps or quiet hours, and stores `--leads` consenting
leads enrolled in it with their step far in the future. Then one UPDATE makes every step due at
once, and the clock runs until every message is recorded as sent and every .eml file is in the
sink: each one rendered from its Jinja2 template, sent over SMTP, its position, message row and
nurture.message_sent event committed in the scheduler's transaction.
"""

import argparse
import asyncio
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.stack import Stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(dsn: str, leads: int) -> None:
    """Consenting leads, each enrolled in the bench sequence with its step not yet due."""
    now = datetime.now(UTC)
    later = now + timedelta(days=365)
    ids = [uuid.uuid4() for _ in range(leads)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "lead_states", columns=["lead_id", "created_at", "email", "first_name", "company",
                                    "email_consent", "profile_at"],
            records=[(i, now, f"lead.{n}@bench-{n % 1000}.example", f"Lead{n}", "Bench Ltd",
                      True, now) for n, i in enumerate(ids)])
        await conn.copy_records_to_table(
            "enrollments", columns=["id", "lead_id", "sequence_key", "sequence_version",
                                    "status", "current_step", "next_step_due_at", "enrolled_at",
                                    "step_started_at"],
            records=[(uuid.uuid4(), i, "bench", 1, "active", 0, later, now, now) for i in ids])
    finally:
        await conn.close()


async def measure(dsn: str, maildir: Path, leads: int) -> tuple[float, int]:
    """Make every step due, then time until all are sent; returns (seconds, files in sink)."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.execute("UPDATE enrollments SET next_step_due_at = now(), "
                           "step_started_at = now() WHERE sequence_key = 'bench'")
        while True:
            sent = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'")
            if sent >= leads:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    files = await asyncio.to_thread(lambda: sum(1 for _ in maildir.glob("*.eml")))
    return elapsed, files


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200, help="enrollments per transaction")
    parser.add_argument("--smtp", type=int, default=8, help="SMTP connections")
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
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(f"{stack.url('nurture')}/v1/sequences",
                                headers={"X-API-Key": stack.admin_key}, json={
                "key": "bench", "entry_rule": "new_unqualified_lead",
                "segment": {"utm_campaign": ["bench-only"]},
                "steps": [{"kind": "send_email", "template": "welcome"}],
                "guards": {"max_per_day": 1000, "max_per_week": 1000, "quiet_hours": None}})
            r.raise_for_status()
        dsn = settings.database_url_for("nurture").replace("+asyncpg", "")
        await seed(dsn, args.leads)
        elapsed, files = await measure(dsn, stack.smtp.maildir, args.leads)
        print(f"{args.leads} due steps sent over SMTP in {elapsed:.1f}s: "
              f"{args.leads / elapsed * 60:,.0f} per minute "
              f"(batch {args.batch}, {args.smtp} SMTP connections; sink holds {files} messages)")
        if files != args.leads:
            print("sink and messages table disagree", file=sys.stderr)
            sys.exit(1)
    finally:
        await stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
