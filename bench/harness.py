"""What every benchmark shares: the stack, the meters, the readers, and small helpers."""

import asyncio
import math
import socket
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.cpu import CpuMeter, CpuUsage
from bench.kafka_probe import HandoffReader, LagProbe
from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.postgres import LocalPostgres
from leadloop_devstack.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSUMING = ("scoring", "handoff", "nurture", "outcomes")
REP_CAPACITY = 10_000  # the most a rep may hold (handoff's limit)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_postgres(prefix: str) -> Iterator[tuple[str, int]]:
    """A PostgreSQL server of its own in a temporary folder, for a bench run without --dsn:
    its server URL and the postmaster's pid; stopped and removed on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as home:
        port = free_port()
        server = LocalPostgres(Path(home), "127.0.0.1", port)
        server.start()
        try:
            pid = int((server.data / "postmaster.pid").read_text().split()[0])
            yield f"postgresql://postgres@127.0.0.1:{port}", pid
        finally:
            server.stop()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; inf values (lost leads) sort last and count against it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# pg_stat_statements counts what each service's database executes (statements the client sent:
# top level, no BEGIN/COMMIT), so a benchmark can report statements per lead per service.
STATEMENT_STATS = ("-c shared_preload_libraries=pg_stat_statements "
                   "-c pg_stat_statements.track=top -c pg_stat_statements.track_utility=off")


def stack_settings(home: Path) -> StackSettings:
    """All five services, PostgreSQL and Kafka, on free ports under `home`."""
    return StackSettings(home=home, postgres_port=free_port(), kafka_port=free_port(),
                         kafka_controller_port=free_port(), smtp_port=0,
                         ports={name: free_port() for name in DEFAULT_PORTS},
                         postgres_options=STATEMENT_STATS)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float,
                     interval_s: float = 0.2) -> bool:
    """Poll `check` until it is true (True) or `timeout_s` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval_s)


@dataclass
class Durations:
    """How long each benchmark offers load; --quick shrinks them for debugging the harness."""

    p1_round_s: float = 8.0
    p1_rounds: int = 2
    p2_warmup_s: float = 3.0
    p2_s: float = 20.0
    p3_s: float = 20.0
    p4_rows: int = 100_000
    p8_leads: int = 10_000
    drain_timeout_s: float = 60.0

    @classmethod
    def quick(cls) -> "Durations":
        """Seconds, not minutes: proves the harness works, measures nothing worth quoting."""
        return cls(p1_round_s=2.0, p1_rounds=1, p2_warmup_s=1.0, p2_s=4.0, p3_s=4.0,
                   p4_rows=5_000, p8_leads=1_000, drain_timeout_s=45.0)


_BACKLOG = "SELECT count(*) FROM outbox"
_LEAD_IDS = "SELECT id::text FROM leads WHERE email ILIKE $1"
_OWN_QUERIES = (_BACKLOG, _LEAD_IDS)


@dataclass
class Bench:
    """A running stack and what the benchmarks measure it with."""

    stack: Stack
    durations: Durations
    workdir: Path
    meter: CpuMeter = field(init=False)
    reader: HandoffReader = field(init=False)
    lag: LagProbe = field(init=False)
    http: httpx.AsyncClient = field(init=False)
    reps: int = 0
    _opened: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _databases: dict[str, asyncpg.Connection] = field(default_factory=dict)

    async def open(self) -> None:
        """Start the meters and readers (the stack is already running)."""
        self.meter = CpuMeter.of(self.stack)
        self.http = httpx.AsyncClient(timeout=60, headers={"X-API-Key": self.stack.admin_key})
        self._opened.append(self.http.aclose)
        self.reader = HandoffReader(self.stack.bootstrap_servers,
                                    self.stack.settings.topic_partitions)
        self._opened.append(self.reader.stop)
        await self.reader.start()
        self.lag = LagProbe(self.stack.bootstrap_servers, self.stack.settings.topic_partitions)
        self._opened.append(self.lag.stop)
        await self.lag.start()

    async def close(self) -> None:
        """Stop the readers and close the connections (whatever `open` got to)."""
        await asyncio.gather(*(close() for close in self._opened),
                             *(conn.close() for conn in self._databases.values()),
                             return_exceptions=True)

    def dsn(self, service: str) -> str:
        """An asyncpg DSN of a service's database."""
        return self.stack.settings.database_url_for(service).replace("+asyncpg", "", 1)

    async def database(self, service: str) -> asyncpg.Connection:
        """A connection to `service`'s database (one per database, kept open)."""
        if service not in self._databases:
            self._databases[service] = await asyncpg.connect(self.dsn(service))
        return self._databases[service]

    async def outbox_backlog(self, service: str) -> int:
        """Rows in `service`'s outbox not yet published to Kafka."""
        conn = await self.database(service)
        return int(await conn.fetchval(_BACKLOG))

    async def reset_statement_counts(self) -> bool:
        """Zero PostgreSQL's statement counters; False when pg_stat_statements is not loaded
        (a PostgreSQL given from outside)."""
        conn = await self.database("capture")
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        except asyncpg.PostgresError:
            return False
        return True

    async def statement_counts(self) -> dict[str, int]:
        """Statements each service executed since the reset (the benchmark's own excluded)."""
        conn = await self.database("capture")
        rows = await conn.fetch(
            "SELECT d.datname, sum(s.calls)::bigint FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid"
            " WHERE s.query <> ALL($1::text[]) GROUP BY d.datname", list(_OWN_QUERIES))
        by_database = {row[0]: int(row[1]) for row in rows}
        return {service: by_database.get(self.stack.settings.database_name(service), 0)
                for service in DEFAULT_PORTS}

    async def lead_ids(self, email_pattern: str) -> set[str]:
        """Ids of the leads in capture's table whose email is ILIKE `email_pattern`."""
        conn = await self.database("capture")
        rows = await conn.fetch(_LEAD_IDS, email_pattern)
        return {row[0] for row in rows}

    async def wait_outboxes_empty(self, timeout_s: float,
                                  services: tuple[str, ...] | None = None) -> bool:
        """Until every running service (or those given) has published its whole outbox."""
        names = services or self.running()
        async def empty() -> bool:
            return not any([await self.outbox_backlog(name) for name in names])
        return await wait_until(empty, timeout_s)

    def url(self, service: str, path: str = "") -> str:
        """A service's URL."""
        return self.stack.url(service) + path

    def running(self) -> tuple[str, ...]:
        """The services whose process is alive."""
        return tuple(name for name, svc in self.stack.services.items()
                     if svc.process is not None and svc.process.poll() is None)

    async def ensure_rep_capacity(self, leads: int) -> None:
        """Enough reps (capacity 10,000 each) that `leads` more open leads all find one."""
        needed = math.ceil(leads / REP_CAPACITY)
        while self.reps < needed:
            response = await self.http.post(self.url("handoff", "/v1/reps"), json={
                "name": f"Bench Rep {self.reps + 1}",
                "email": f"bench.rep.{uuid.uuid4().hex[:8]}@sales-bench.com",
                "capacity": REP_CAPACITY})
            response.raise_for_status()
            self.reps += 1

    async def consumer_lags(self) -> dict[str, int]:
        """Kafka lag of every running consuming service."""
        return await self.lag.lags(tuple(s for s in CONSUMING if s in self.running()))

    async def pipeline_state(self) -> dict[str, dict[str, int]]:
        """Unpublished outbox rows and consumer lag of every running service."""
        return {"outbox": {name: await self.outbox_backlog(name) for name in self.running()},
                "lag": await self.consumer_lags()}

    async def wait_drained(self, timeout_s: float) -> bool:
        """Until every outbox is published and every running consumer group has committed
        everything (checked twice in a row)."""
        async def drained() -> bool:
            if any([await self.outbox_backlog(name) for name in self.running()]):
                return False
            if any((await self.consumer_lags()).values()):
                return False
            await asyncio.sleep(0.3)
            return not any((await self.consumer_lags()).values())
        return await wait_until(drained, timeout_s, interval_s=0.3)

    def usage(self, before: dict[str, float], services: tuple[str, ...] | None = None
              ) -> CpuUsage:
        """CPU spent since `before`."""
        return CpuUsage.between(self.meter, before, self.meter.snapshot(), services)

    async def stop_downstream(self) -> None:
        """Leave only capture running (SIGTERM: each drains and commits), for P1 and P4."""
        await asyncio.gather(*(asyncio.to_thread(self.stack.services[name].stop)
                               for name in CONSUMING if name in self.stack.services))


def summary(figure: float | None, target: str, met: bool | None, **details: Any
            ) -> dict[str, Any]:
    """A benchmark's result as the table and the JSON want it."""
    return {"figure": figure, "target": target, "met": met, **details}
