"""Bench: backtest a scoring model over 100,000 stored leads (the target is under 10 s).

    /tmp/venv/bin/python bench/scoring_backtest.py [--leads 100000] [--dsn postgresql://...]

Without --dsn it starts a throwaway PostgreSQL (the local stack's embedded one) in a temporary
folder. It migrates a fresh `scoring_bench` database, loads generated leads (about five
activities each, a closed deal for one in ten) with COPY, then times the same use case
`POST /v1/models/{v}/backtest` runs, from the database reads to the report.
"""

import argparse
import asyncio
import json
import random
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from leadloop.db import UnitOfWork, create_engine
from leadloop_devstack.postgres import LocalPostgres, ensure_databases
from leadloop_devstack.services import run_migrations
from scoring.learning_service import backtest_version

DATABASE = "scoring_bench"
TITLES = ("VP Marketing", "Head of Sales", "Engineer", "Analyst", "CEO", "Student", None)
DOMAINS = ("gmail.com", "acme.com", "globex.io", "initech.de", "outlook.com")
KINDS = ("page_view", "page_view", "page_view", "form_submitted", "email_opened",
         "email_clicked")
URLS = ("https://acme.com/pricing", "https://acme.com/blog", "https://acme.com/docs")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(dsn: str, leads: int, seed: int) -> None:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=180)
    lead_rows, activity_rows, deal_rows = [], [], []
    for i in range(leads):
        lead_id = uuid.UUID(int=rng.getrandbits(128))
        created = start + timedelta(minutes=rng.uniform(0, 180 * 24 * 60))
        profile = {"email": f"lead{i}@{rng.choice(DOMAINS)}", "job_title": rng.choice(TITLES),
                   "company_size": rng.choice((5, 20, 80, 300, 2000)),
                   "phone": "+4930123456" if rng.random() < 0.3 else None,
                   "properties": {"segment": rng.choice(("smb", "mid", "enterprise"))}}
        lead_rows.append((lead_id, json.dumps(profile), created, created))
        for _ in range(rng.randint(0, 10)):
            kind = rng.choice(KINDS)
            activity_rows.append((uuid.uuid4(), lead_id, kind,
                                  rng.choice(URLS) if kind == "page_view" else None,
                                  created + timedelta(hours=rng.uniform(0, 24 * 60)), "bench"))
        if rng.random() < 0.1:
            deal_rows.append((uuid.uuid4(), lead_id, rng.choice(("won", "lost")), 100_000,
                              "EUR", created + timedelta(days=30), "{}", "bench"))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE leads, lead_activities, deal_outcomes")
        await conn.copy_records_to_table(
            "leads", records=lead_rows,
            columns=["lead_id", "profile", "profile_at", "first_seen_at"])
        await conn.copy_records_to_table(
            "lead_activities", records=activity_rows,
            columns=["activity_id", "lead_id", "kind", "url", "occurred_at", "event_id"])
        await conn.copy_records_to_table(
            "deal_outcomes", records=deal_rows,
            columns=["deal_id", "lead_id", "outcome", "amount_minor", "currency", "closed_at",
                     "features", "event_id"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    print(f"loaded {len(lead_rows)} leads, {len(activity_rows)} activities, "
          f"{len(deal_rows)} closed deals")


async def _bench(server_dsn: str, leads: int, runs: int) -> None:
    await ensure_databases(server_dsn, [DATABASE])
    dsn = f"{server_dsn.rstrip('/')}/{DATABASE}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    await run_migrations("scoring", {"LEADLOOP_SCORING_DATABASE_URL": url})
    await _load(dsn, leads, seed=7)
    engine = create_engine(url)
    try:
        for run in range(1, runs + 1):
            started, cpu_started = time.perf_counter(), time.process_time()
            async with UnitOfWork(engine, "scoring") as uow:
                report = await backtest_version(uow, 1)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            # CPU seconds of this process (the database's work is not in it): on a shared
            # machine, wall time also counts waiting for a core.
            print(f"run {run}: {elapsed:.2f} s ({cpu:.2f} s CPU here) for "
                  f"{report['leads_replayed']} leads "
                  f"(load {report['load_seconds']} s, replay {report['replay_seconds']} s); "
                  f"{report['mqls']} MQLs, win rate {report['mql_win_rate']}, "
                  f"peak {report['peak_weekly_mqls']} a week")
    finally:
        await engine.dispose()


def main() -> int:
    """Run the bench and print each run's time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dsn", help="a PostgreSQL server, e.g. postgresql://postgres@host:5432")
    args = parser.parse_args()
    if args.dsn:
        asyncio.run(_bench(args.dsn, args.leads, args.runs))
        return 0
    with tempfile.TemporaryDirectory(prefix="scoring-bench-") as home:
        port = _free_port()
        postgres = LocalPostgres(Path(home), "127.0.0.1", port)
        postgres.start()
        try:
            asyncio.run(_bench(f"postgresql://postgres@127.0.0.1:{port}", args.leads,
                               args.runs))
        finally:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
