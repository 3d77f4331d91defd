"""Bench: a burst of due SLA reminders fired by handoff's timer worker (issue #15).

    .venv/bin/python bench/sla_burst.py [--reminders 2000] [--dsn postgresql://postgres@host:5432]

Without --dsn it starts a throwaway PostgreSQL (the local stack's embedded one) in a temporary
folder. It migrates a fresh `handoff_sla_bench` database, hands `--reminders` qualified leads
to two reps through handoff's routing handler (one webhook subscriber takes every event), makes
their half-time reminders due at once, as a campaign's burst of hand-offs does 150 s later, and
runs the timer worker's rounds (`fire_due_timers`, as the service's worker calls it) until none
is due. It prints the wall time of the rounds, the statements and transactions they sent
(counted at the driver, as tests/integration counts them), the CPU seconds PostgreSQL and this
process spent meanwhile (PostgreSQL's only when it started it), and checks that every
assignment was reminded once, with one webhook delivery each.

To compare two versions of the worker, run the script from each checkout, one after the other on
the same machine: it uses only `fire_due_timers(new_uow, settings)`, which both have. Not part of
`make bench`.
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

if __package__ in (None, ""):  # run as a script: the repository's root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import CpuMeter
from bench.harness import local_postgres
from handoff.config import HandoffSettings
from handoff.handlers import HANDLERS
from handoff.sla.domain import REMINDER_TYPE
from handoff.sla.worker import fire_due_timers
from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent, event_type_of
from leadloop.events.models import LeadProfile, LeadQualified
from leadloop.handlers import Item
from leadloop_devstack.postgres import ensure_databases
from leadloop_devstack.services import run_migrations
from tests.support.handoff_team import reps_and_a_subscriber
from tests.support.statements import counting_statements

DATABASE = "handoff_sla_bench"
ROUTING_BATCH = 500



def _item(lead: LeadQualified) -> Item[LeadQualified]:
    envelope = CloudEvent(type=event_type_of(lead), source="bench", subject=str(lead.lead_id),
                          data={})
    return Item(lead, envelope)


async def _hand_off(engine: AsyncEngine, count: int) -> None:
    """Two reps with room for every lead, a subscriber for every event, `count` leads routed
    to them, and their reminders due now."""
    await reps_and_a_subscriber(engine, capacity=10_000)
    now = datetime.now(UTC)
    leads = [LeadQualified(lead_id=uuid.uuid4(), score=80, grade="A", model_version=1,
                           profile=LeadProfile(email=f"l{n}@lead.example", company=f"Co {n}"),
                           qualified_at=now) for n in range(count)]
    for start in range(0, count, ROUTING_BATCH):
        async with UnitOfWork(engine, "handoff") as uow:
            await HANDLERS.apply(uow, [_item(lead) for lead in leads[start:start + ROUTING_BATCH]])
            await uow.commit()
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "UPDATE sla_timers SET due_at = now() - interval '1 second' WHERE kind = 'reminder'")


async def _check(engine: AsyncEngine, count: int) -> bool:
    """Every assignment reminded, one reminder delivery each, no reminder left unfired."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT (SELECT count(*) FROM assignments WHERE reminded_at IS NOT NULL),"
            " (SELECT count(DISTINCT lead_id) FROM webhook_deliveries WHERE event_type = :t),"
            " (SELECT count(*) FROM webhook_deliveries WHERE event_type = :t),"
            " (SELECT count(*) FROM sla_timers WHERE kind = 'reminder' AND fired_at IS NULL)"),
            {"t": REMINDER_TYPE})).one()
    print(f"reminded {row[0]}, reminder deliveries {row[2]} for {row[1]} leads, "
          f"unfired reminders {row[3]}", flush=True)
    return tuple(row) == (count, count, count, 0)


async def measure(server_dsn: str, reminders: int, postgres: psutil.Process | None
                  ) -> dict[str, Any]:
    """Hand off the leads, then time the rounds that fire their reminders."""
    await ensure_databases(server_dsn, [DATABASE])
    database = make_url(server_dsn).set(database=DATABASE)
    url = database.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    await run_migrations("handoff", {"LEADLOOP_HANDOFF_DATABASE_URL": url})
    engine = create_engine(url, pool_size=2)
    settings = HANDLERS.settings(HandoffSettings)
    try:
        await _hand_off(engine, reminders)
        rounds = fired = 0
        meter = CpuMeter(infrastructure={"postgres": postgres} if postgres is not None else {})
        postgres_before = meter.snapshot().get("postgres", 0.0)
        own_before = time.process_time()
        started = time.perf_counter()
        with counting_statements(engine) as statements:
            while done := await fire_due_timers(lambda: UnitOfWork(engine, "handoff"),
                                                settings):
                rounds += 1
                fired += done
        seconds = time.perf_counter() - started
        own_cpu = time.process_time() - own_before
        postgres_cpu = (meter.snapshot()["postgres"] - postgres_before
                        if postgres is not None else None)
        ok = await _check(engine, reminders)
    finally:
        await engine.dispose()
    commits = sum(1 for s in statements if s.lstrip().upper().startswith("COMMIT"))
    result = {"reminders": reminders, "fired": fired, "rounds": rounds,
              "seconds": round(seconds, 3), "statements": len(statements),
              "transactions": commits, "bench_cpu_s": round(own_cpu, 3),
              "postgres_cpu_s": None if postgres_cpu is None else round(postgres_cpu, 3),
              "each_once": ok}
    print(f"{fired:,} reminders fired in {seconds:.2f} s ({rounds} rounds, {commits:,} "
          f"transactions, {len(statements):,} statements); CPU: this process {own_cpu:.2f} s, "
          f"PostgreSQL {'n/a' if postgres_cpu is None else f'{postgres_cpu:.2f} s'}; "
          f"load average {[round(x, 2) for x in os.getloadavg()]}", flush=True)
    return result


def main() -> int:
    """Run the bench and print its figures; exit 1 when a reminder was lost or doubled."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=2000)
    parser.add_argument("--dsn", help="a PostgreSQL server, e.g. postgresql://postgres@host:5432")
    args = parser.parse_args()
    print(f"load average at start {[round(x, 2) for x in os.getloadavg()]}", flush=True)
    if args.dsn:
        result = asyncio.run(measure(args.dsn, args.reminders, None))
    else:
        with local_postgres("sla-burst-bench-") as (dsn, pid):
            result = asyncio.run(measure(dsn, args.reminders, psutil.Process(pid)))
    return 0 if result["each_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
