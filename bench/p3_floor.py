"""P3's floor: LeadLoop's durable work per lead in P3 done by the five minimal processes of P2's
floor (bench/p2_floor.py: raw asyncpg + aiokafka + orjson on uvloop, no framework), driven like
P3, so P3's figure can be set against what this machine allows at all.

"The same durable work" is LeadLoop's measured footprint per lead (FOOTPRINT_ROWS,
FOOTPRINT_EVENTS, re-measured with `python -m bench.p3_floor --measure-footprint`):
- capture is P2's floor's capture (LeadIn validation, group commit of the lead, its data key,
  the key record and lead.created sealed under it);
- every process consumes the floor topics its service consumes (leadloop.events.topology) and
  the keys topic (copies kept in its lead_keys), writes an inbox row for each consumed event of a
  type its service handles (contracts/asyncapi/<service>.json), opens lead.created's sealed
  fields, and on its trigger event (TRIGGER: what makes the service act on a new lead in P3)
  inserts, updates and deletes the measured number of rows per lead in tables shaped like its
  service's own (CREATE TABLE ... (LIKE public.t INCLUDING ALL) in schema p3floor_<service> of
  its service's database; values are placeholders of each column's type, CHECK constraints
  dropped), and publishes the measured number of events per lead of each type, padded to the
  measured average size, through its outbox and relay (acks=all, the stack's CloudEvents
  headers), all in one transaction per batch;
- wrk posts leads.lua's qualifying leads as fast as the floor's capture answers (P3's command:
  32 connections, P3's window); the floor's handoff topic is read like P3's.
Figures: leads handed off within the window per second of it, leads/s with the drain (as P3
counts), and CPU per lead of the five processes and of PostgreSQL + Kafka (bench.cpu's reading).
Not done, so the floor is, if anything, high: no scoring model, routing rules, sequences or any
reference data (placeholder values instead of decisions), no reads of a lead's earlier state
beyond its key, no API-key scope lookup, idempotency keys or dedupe, no SMTP (nurture's
messages are rows only), no waiting for a key that has not arrived, no tracing, metrics,
logging or dead letters; one process per service with one consumer connection each.

    python -m bench.p3_floor                      # on a stack of its own (services stopped)
    python -m bench.p3_floor --measure-footprint  # LeadLoop's footprint: a P3 run on a stack
    python -m bench.p3_floor --fastapi            # capture behind a one-route FastAPI app
"""

import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import p2_floor
from bench.harness import REPO_ROOT, Bench, free_port, wait_until
from bench.kafka_probe import HandoffReader
from bench.p1_floor import _started
from bench.p2_floor import CREATED, HANDED_OFF, KEYS, QUALIFIED, Stage, event
from bench.wrk import run_wrk
from leadloop.events.topology import CONSUMES, KEYS_TOPIC, SERVICES, topic_of

FLOOR = "p3floor"
CONNECTIONS = 32  # P3's wrk command

# LeadLoop's footprint per lead created, measured with `python -m bench.p3_floor
# --measure-footprint` (one P3 run, 20 s of wrk, on a stack of its own) on 2026-12-07 at 04:41
# UTC, main at 9af25dd (6,518 leads, 288 leads/s, load average about 3): pg_stat_user_tables'
# n_tup_ins / n_tup_upd / n_tup_del per database and table, and Kafka's end offsets per topic,
# before and after, divided by the leads capture inserted; sizes and types from the records
# written (a sample of each partition). Below 0.01 a lead left out (a bench rep, a rescore job).
# (inserts, updates, deletes) per lead, by service and table; event types without "leadloop.".
FOOTPRINT_ROWS: dict[str, dict[str, tuple[float, float, float]]] = {
    "capture": {"lead_keys": (1, 0, 0), "lead_sales_states": (1, 0.984, 0), "leads": (1, 0, 0),
        "outbox": (2, 0, 2), "processed_events": (2, 0, 0)},
    "scoring": {"lead_keys": (1, 0, 0), "leads": (1, 1, 0), "outbox": (2, 0, 2),
        "processed_events": (1, 0, 0), "score_history": (1, 0, 0)},
    "handoff": {"assignments": (1, 0, 0), "lead_arrivals": (1, 0, 0), "lead_keys": (1, 0, 0),
        "lead_stages": (1, 0.51, 0), "leads": (1, 0, 0), "outbox": (1, 0, 1),
        "processed_events": (3.855, 0, 0), "round_robin_cursors": (0, 0.043, 0),
        "sla_timers": (2, 0, 0)},
    "nurture": {"enrollments": (0.862, 0.888, 0), "lead_keys": (1, 0, 0),
        "lead_states": (1, 4.574, 0), "messages": (0.201, 0, 0), "processed_events": (4, 0, 0)},
    "outcomes": {"funnel_leads": (1, 1.69, 0), "lead_keys": (1, 0, 0),
        "lead_lifecycle": (1, 1.628, 0), "outbox": (1.855, 0, 1.855),
        "processed_events": (5.855, 0, 0), "timeline_entries": (5.855, 0, 0),
        "touches": (1, 0, 0)},
}
# Per topic: events per lead by type, and the average value bytes (the data, sealed where
# personal) of a record.
FOOTPRINT_EVENTS: dict[str, tuple[dict[str, float], int]] = {
    "leadloop.capture": ({"lead.created.v1": 1}, 927),
    "leadloop.capture.keys": ({"lead.key.v1": 1}, 108),
    "leadloop.handoff": ({"lead.handed_off.v1": 1}, 2137),
    "leadloop.outcomes": ({"lead.stage_changed.v1": 1.855}, 254),
    "leadloop.scoring": ({"lead.scored.v1": 1, "lead.qualified.v1": 1}, 1214),
}

# The event after which a service does its share of a lead's work in P3 (all leads qualify):
# capture records the sales state once handed off, handoff routes what scoring qualified.
TRIGGER = {"capture": HANDED_OFF, "scoring": CREATED, "handoff": QUALIFIED, "nurture": CREATED,
           "outcomes": CREATED}
# Tables the Stage machinery itself writes (its inbox, outbox and relay, key copies, capture's
# group commit): the footprint's rows there are not written again.
MACHINERY = ("outbox", "processed_events", "lead_keys")
LEAD_COLUMN = {"leads": "id"}  # a lead's rows are found by lead_id, or by this column


def handled_types(service: str) -> frozenset[str]:
    """The event types `service` handles (its AsyncAPI document's receive operations): the
    consumer runner writes an inbox row for those, and skips the others without one."""
    doc = json.loads((REPO_ROOT / "contracts" / "asyncapi" / f"{service}.json").read_text())
    messages = doc["components"]["messages"]
    return frozenset(messages[ref["$ref"].rsplit("/", 1)[1]]["name"]
                     for op in doc["operations"].values() if op["action"] == "receive"
                     for ref in op["messages"])


def table_work(service: str) -> dict[str, tuple[float, float, float]]:
    """The footprint's rows per lead that the stage writes on its trigger (not the machinery's;
    capture's lead row is its group commit's)."""
    work = {t: v for t, v in FOOTPRINT_ROWS.get(service, {}).items() if t not in MACHINERY}
    if service == "capture" and "leads" in work:
        ins, upd, dele = work["leads"]
        work["leads"] = (max(0.0, ins - 1.0), upd, dele)
    return {t: v for t, v in work.items() if any(x >= 0.01 for x in v)}


def events_of(publisher: str) -> dict[str, float]:
    """Events per lead by type that a publisher's trigger emits (capture's lead.created is its
    group commit's)."""
    types, _ = FOOTPRINT_EVENTS.get(topic_of(publisher), ({}, 0))
    return {f"leadloop.{t}": n for t, n in types.items()
            if not (publisher == "capture" and f"leadloop.{t}" == CREATED)}


# --- a table shaped like the real one, filled with placeholders --------------------------------

COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typtype::text,
       t.typname::text, t.typcategory::text, a.attnotnull, a.atthasdef,
       a.attidentity <> '' OR a.attgenerated <> ''
       AS generated, coalesce(a.attnum = ANY(i.indkey::int2[]), false) AS in_key
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""


def placeholder(column: asyncpg.Record, lead: str, is_lead: bool) -> str | None:
    """A SQL expression of the column's type (`lead`: the lead id's expression, for the lead
    column and in text; l.n the row's number in the statement, $2 the stage's running row
    count, so numbers and text differ from row to row and unique indexes hold)."""
    kind, name, category = column["type"], column["typname"], column["typcategory"]
    if is_lead:
        return f"({lead})::{kind}"
    if column["typtype"] == "e":
        return f"enum_first(NULL::{kind})"
    if category == "S":
        return f"(({lead}) || ':' || ($2 + l.n))::{kind}"
    if name == "int2":
        return "(l.n % 30000)::smallint"
    if category == "N":
        return f"($2 + l.n)::{kind}"
    if category == "B":
        return "false"
    if category == "D":
        return f"now()::{kind}"
    if category == "T":
        return "interval '1 minute'"
    if category == "A":
        return f"'{{}}'::{kind}"
    return {"uuid": "gen_random_uuid()", "jsonb": "'{\"floor\": true}'::jsonb",
            "json": "'{\"floor\": true}'::json",
            "bytea": f"decode(md5({lead}), 'hex')"}.get(name)


class Table:
    """One real table's twin in the floor's schema, and its insert/update/delete statements."""

    def __init__(self, name: str, columns: list[asyncpg.Record]) -> None:
        self.name = name
        names = {c["name"] for c in columns}
        self.lead = next((c for c in ("lead_id", LEAD_COLUMN.get(name)) if c in names), None)
        filled = [(c["name"], e) for c in columns
                  if not c["generated"] and not (c["atthasdef"] and c["name"] != self.lead)
                  and (e := placeholder(c, "l.lead_id", c["name"] == self.lead)) is not None]
        self.insert = (f"INSERT INTO {name} ({', '.join(n for n, _ in filled)}) SELECT "
                       f"{', '.join(e for _, e in filled)} FROM unnest($1::text[]) WITH "
                       "ORDINALITY AS l(lead_id, n) WHERE $2::bigint IS NOT NULL "
                       "ON CONFLICT DO NOTHING")
        # An update writes a new version of the row: a timestamp column if it has one (as the
        # services' updated_at), else a column outside the primary key set to itself.
        loose = [c for c in columns if not c["in_key"] and c["name"] != self.lead]
        stamp = next((c for c in loose if c["typcategory"] == "D"), None)
        target = stamp or (loose[0] if loose else columns[0])
        value = f"now()::{target['type']}" if stamp else target["name"]
        # A lead's rows through the lead column's index ($1: the leads whose rows change, as
        # many as rows are due), as the services' statements find them; a table not keyed by
        # lead changes its first $2 rows (a ctid list on a TID scan: the table is small).
        lead_type = next((c["type"] for c in columns if c["name"] == self.lead), "text")
        rows = (f"{self.lead} = ANY($1::text[]::{lead_type}[]) AND $2::int IS NOT NULL"
                if self.lead else f"ctid = ANY(ARRAY(SELECT ctid FROM {name} WHERE "
                "$1::text[] IS NOT NULL LIMIT $2))")
        self.update = f"UPDATE {name} SET {target['name']} = {value} WHERE {rows}"
        self.delete = f"DELETE FROM {name} WHERE {rows}"
        self.unfilled = [c["name"] for c in columns if c["attnotnull"] and not c["atthasdef"]
                         and not c["generated"] and c["name"] not in dict(filled)]


async def create_tables(conn: asyncpg.Connection, service: str) -> None:
    """The floor's schema in `service`'s database: the machinery's tables and a twin of every
    table the footprint writes; tables updated but not keyed by lead get the real rows."""
    schema = f"{FLOOR}_{service}"
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await conn.execute(f"CREATE SCHEMA {schema}")
    for name in sorted({*MACHINERY, *table_work(service)}
                       | ({"leads"} if service == "capture" else set())):
        await conn.execute(f"CREATE TABLE {schema}.{name} (LIKE public.{name} INCLUDING ALL)")
        checks = await conn.fetch("SELECT conname FROM pg_constraint WHERE contype = 'c' AND "
                                  "conrelid = $1::regclass", f"{schema}.{name}")
        for check in checks:  # placeholders are not the real values: no rule to keep
            await conn.execute(f'ALTER TABLE {schema}.{name} DROP CONSTRAINT "{check[0]}"')
        if name in MACHINERY:
            continue
        table = Table(name, await conn.fetch(COLUMNS, f"{schema}.{name}"))
        for column in table.unfilled:  # no placeholder for its type: left empty
            await conn.execute(f'ALTER TABLE {schema}.{name} ALTER COLUMN "{column}" '
                               "DROP NOT NULL")
        if table.lead is None and table_work(service)[name][1] > 0:  # rows to update
            await conn.execute(f"INSERT INTO {schema}.{name} SELECT * FROM public.{name}")
            if not await conn.fetchval(f"SELECT count(*) FROM {schema}.{name}"):
                await conn.execute(table.insert.replace(f"INTO {name}", f"INTO {schema}.{name}"),
                                   ["seed"], 0)


# --- the stage -------------------------------------------------------------------------------


class Footprint:
    """Whole numbers of rows or events from fractional rates per lead, carrying the remainder
    from batch to batch so the totals follow the rates."""

    def __init__(self) -> None:
        self.carry: dict[str, float] = {}

    def take(self, what: str, rate: float, leads: int) -> int:
        self.carry[what] = self.carry.get(what, 0.0) + rate * leads
        whole = int(self.carry[what] + 1e-9)
        self.carry[what] -= whole
        return whole


class P3Stage(Stage):
    """P2's floor stage doing, on its trigger, the footprint's rows and events per lead."""

    FLOOR = FLOOR
    PUBLISHERS = SERVICES

    async def start(self) -> None:
        conn = await self.connect()
        try:
            self.tables = [(Table(name, await conn.fetch(COLUMNS, name)), rates)
                           for name, rates in table_work(self.service).items()]
        finally:
            await conn.close()
        self.handled = handled_types(self.service)
        self.emits = events_of(self.service)
        self.sizes = {t: size for t, (_, size) in FOOTPRINT_EVENTS.items()}
        self.footprint, self.rows = Footprint(), 0
        await super().start()

    def triggered(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if e["type"] == TRIGGER[self.service]]

    async def apply(self, conn: asyncpg.Connection, events: list[dict[str, Any]],
                    keys: list[dict[str, Any]]) -> int:
        """As P2's stage, but the inbox takes only the types the service handles."""
        return await super().apply(conn, [e for e in events if e["type"] in self.handled],
                                   keys)

    async def state(self, conn: asyncpg.Connection, events: list[dict[str, Any]]) -> None:
        """The footprint's rows for each lead the batch triggers, a statement per table and
        kind (updates of more rows than a lead has: again, as the real rows change again)."""
        leads = [e["lead_id"] for e in self.triggered(events)]
        if not leads:
            return
        for table, (ins, upd, dele) in self.tables:
            count = self.footprint.take(f"{table.name}:ins", ins, len(leads))
            if count:
                await conn.execute(table.insert, [leads[i % len(leads)] for i in range(count)],
                                   self.rows)
                self.rows += count
            for statement, rate, kind in ((table.update, upd, "upd"), (table.delete, dele,
                                                                     "del")):
                left = self.footprint.take(f"{table.name}:{kind}", rate, len(leads))
                for _ in range(10):
                    if left <= 0:
                        break
                    done = int((await conn.execute(statement, leads[:left], left)).split()[-1])
                    if done == 0:
                        break
                    left -= done

    def reactions(self, events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """The footprint's events per lead the batch triggers, each padded to its topic's
        measured size."""
        out = []
        for e in self.triggered(events):
            for kind, rate in self.emits.items():
                for _ in range(self.footprint.take(kind, rate, 1)):
                    out.append((self.topic(self.service),
                                self.padded(topic_of(self.service), self.made(kind, e))))
        return out

    def made(self, kind: str, trigger: dict[str, Any]) -> dict[str, Any]:
        """An event of type `kind` that `trigger` causes (placeholder data, to be padded)."""
        return event(kind, trigger["lead_id"], {"received_at": trigger["data"].get("received_at")})

    def padded(self, real_topic: str, e: dict[str, Any]) -> dict[str, Any]:
        short = self.sizes.get(real_topic, 0) - len(orjson.dumps(e)) - len(',"pad":""')
        if short > 0:
            e["data"]["pad"] = "x" * short
        return e

    def created(self, lead_id: str, lead: dict[str, Any], key: bytes
                ) -> list[tuple[str, dict[str, Any]]]:
        """P2's capture rows, lead.created padded to the size of LeadLoop's."""
        rows = super().created(lead_id, lead, key)
        return [(t, self.padded(topic_of("capture"), e) if e["type"] == CREATED else e)
                for t, e in rows]


# --- the run ---------------------------------------------------------------------------------


async def _lags(admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer, tag: str,
                partitions: int) -> int:
    """Records the floor's consumer groups have not committed yet."""
    total = 0
    for service in SERVICES:
        topics = [p2_floor.topic(tag, p, FLOOR) for p in (*CONSUMES[service], KEYS)
                  if service != "capture" or p != KEYS]
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        committed = await admin.list_consumer_group_offsets(f"{FLOOR}-{tag}-{service}")
        ends = await offsets.end_offsets(tps)
        for tp in tps:
            meta = committed.get(tp)
            total += ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0)
    return total


async def _commits(conns: dict[str, asyncpg.Connection]) -> dict[str, int]:
    """Transactions committed so far in each service's database (whoever ran them: on a
    benchmark's stack, LeadLoop's idle services too)."""
    return {s: await c.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = "
                                "current_database()") for s, c in conns.items()}


async def _floor_footprint(conns: dict[str, asyncpg.Connection], offsets: AIOKafkaConsumer,
                           tag: str, partitions: int) -> dict[str, Any]:
    """What the floor wrote per lead since its tables and topics were made (warm-up included),
    to set against FOOTPRINT_ROWS and FOOTPRINT_EVENTS."""
    counts = {s: {r["relname"]: (r["n_tup_ins"], r["n_tup_upd"], r["n_tup_del"])
                  for r in await c.fetch(STATS.replace("'public'", "$1"), f"{FLOOR}_{s}")}
              for s, c in conns.items()}
    leads = counts["capture"]["leads"][0]
    ends = await offsets.end_offsets([TopicPartition(p2_floor.topic(tag, p, FLOOR), n)
                                      for p in (*SERVICES, KEYS) for n in range(partitions)])
    per_topic = Counter({tp.topic.rsplit(".", 1)[1]: 0 for tp in ends})
    for tp, end in ends.items():
        per_topic[tp.topic.rsplit(".", 1)[1]] += end
    return {"leads_created": leads,
            "rows_per_lead": {s: {t: tuple(round(x / leads, 3) for x in v)
                                  for t, v in sorted(tables.items()) if any(v)}
                              for s, tables in counts.items()} if leads else {},
            "events_per_lead": {t: round(n / leads, 3) for t, n in per_topic.items()}
            if leads else {}}


async def measure(dsns: dict[str, str], bootstrap: str, partitions: int,
                  infrastructure: dict[str, psutil.Process], workdir: Path, window_s: float,
                  drain_timeout_s: float, front: str = "asgi", module: str = "bench.p3_floor"
                  ) -> dict[str, Any]:
    """Start the five processes, wrk their capture for `window_s`, wait for the drain; `front`
    "fastapi" serves capture behind the smallest FastAPI app (p2_floor.fastapi_front).
    `module` runs each process: this floor's stages, or bench/p3_floor_stack.py's."""
    tag, port = uuid.uuid4().hex[:8], free_port()
    topics = [p2_floor.topic(tag, p, FLOOR) for p in (*SERVICES, KEYS)]
    reader = HandoffReader(bootstrap, partitions, p2_floor.topic(tag, "handoff", FLOOR))
    conns = {s: await asyncpg.connect(dsn) for s, dsn in dsns.items()}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await offsets.start()
    procs: dict[str, asyncio.subprocess.Process] = {}
    ready = {s: workdir / f"{FLOOR}-{tag}-{s}.ready" for s in SERVICES}
    started_reader = False

    async def joined() -> bool:
        if any(p.returncode is not None for p in procs.values()):
            raise RuntimeError("a process of the floor exited")
        return all(marker.exists() for marker in ready.values())

    async def backlog() -> int:
        return sum([await c.fetchval(f"SELECT count(*) FROM {FLOOR}_{s}.outbox")
                    for s, c in conns.items()])
    try:
        for service, conn in conns.items():
            await create_tables(conn, service)
        await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
        await reader.start()
        started_reader = True
        for service in SERVICES:
            procs[service] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, service, tag, dsns[service], bootstrap,
                str(port), str(ready[service]), front, cwd=REPO_ROOT)
        if not await wait_until(joined, 120):
            raise RuntimeError("the floor's consumers did not join their groups")
        await _started(port, procs["capture"])
        url = f"http://127.0.0.1:{port}/v1/leads"
        await run_wrk(url, 2, connections=CONNECTIONS, api_key="floor")  # connections, plans

        async def drained() -> bool:
            return not await backlog() and not await _lags(admin, offsets, tag, partitions)
        await wait_until(drained, drain_timeout_s)
        meter = {**{s: psutil.Process(p.pid) for s, p in procs.items()}, **infrastructure}
        load_at_start = psutil.getloadavg()
        before = p2_floor._cpu_seconds(meter)
        commits_before = await _commits(conns)
        started = time.monotonic()
        wrk = await run_wrk(url, window_s, connections=CONNECTIONS, api_key="floor", tag=tag)
        window_end = time.monotonic()
        leads = {r[0] for r in await conns["capture"].fetch(
            f"SELECT id::text FROM {FLOOR}_capture.leads WHERE email ILIKE $1", f"lead.{tag}.%")}

        async def handed_off() -> bool:
            return all(lead in reader.received for lead in leads)
        all_handed_off = await wait_until(handed_off, drain_timeout_s)
        all_drained = await wait_until(drained, drain_timeout_s if all_handed_off else 1)
        finished = time.monotonic()
        spent = {k: v - before[k] for k, v in p2_floor._cpu_seconds(meter).items()}
        completed = sum(1 for lead in leads if lead in reader.received)
        in_window = sum(1 for lead in leads
                        if reader.received.get(lead, window_end + 1) <= window_end)
        services = sum(v for k, v in spent.items() if k in SERVICES)
        infra = sum(v for k, v in spent.items() if k in infrastructure)
        for process in procs.values():  # their backends report their table counters on exit
            process.terminate()
        await asyncio.gather(*(p.wait() for p in procs.values()))
        await asyncio.sleep(1.0)
        commits = {s: n - commits_before[s] for s, n in (await _commits(conns)).items()}
        return {"footprint": await _floor_footprint(conns, offsets, tag, partitions),
            "commits_per_lead": {s: round(n / completed, 2) for s, n in commits.items()}
            if completed else {},
            "leads_per_s_in_window": in_window / (window_end - started),
            "leads_per_s": completed / (finished - started), "leads_accepted": len(leads),
            "leads_handed_off": completed, "handed_off_in_window": in_window,
            "window_s": window_end - started, "drain_s": finished - window_end,
            "drained": all_handed_off and all_drained, "capture_requests_per_s": wrk.rate,
            "http_errors": wrk.status_errors, "socket_errors": wrk.socket_errors,
            "cpu_ms_per_lead": {
                "services": services * 1000 / completed if completed else None,
                "infrastructure": infra * 1000 / completed if completed else None,
                **{k: round(v * 1000 / completed, 3) if completed else None
                   for k, v in spent.items() if k != "machine"}},
            "load_average_at_start": load_at_start,
            "load_average_at_end": psutil.getloadavg()}
    finally:
        for process in procs.values():
            if process.returncode is None:
                process.terminate()
        await asyncio.gather(*(p.wait() for p in procs.values()))
        if started_reader:
            await reader.stop()
        await offsets.stop()
        await admin.delete_topics(topics)
        await admin.close()
        for service, conn in conns.items():
            await conn.execute(f"DROP SCHEMA IF EXISTS {FLOOR}_{service} CASCADE")
            await conn.close()


async def on_bench(bench: Bench, front: str = "asgi", module: str = "bench.p3_floor"
                   ) -> dict[str, Any]:
    """The floor on a benchmark's stack (its PostgreSQL, Kafka and databases), P3's window."""
    return await measure({s: bench.dsn(s) for s in SERVICES}, bench.stack.bootstrap_servers,
                         bench.stack.settings.topic_partitions, bench.meter.infrastructure,
                         bench.workdir, bench.durations.p3_s, bench.durations.drain_timeout_s,
                         front, module)


# --- LeadLoop's footprint --------------------------------------------------------------------

STATS = ("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
         "WHERE schemaname = 'public'")
STATS_FLUSH_S = 11.0  # an idle backend reports its table counters within 10 s
SAMPLE = 300  # records read per partition for sizes and types


async def _table_counters(bench: Bench) -> dict[str, dict[str, tuple[int, int, int]]]:
    """Rows inserted, updated, deleted so far, by service (database) and table."""
    counters = {}
    for service in SERVICES:
        rows = await (await bench.database(service)).fetch(STATS)
        counters[service] = {r["relname"]: (r["n_tup_ins"], r["n_tup_upd"], r["n_tup_del"])
                             for r in rows}
    return counters


async def _end_offsets(consumer: AIOKafkaConsumer, partitions: int
                       ) -> dict[TopicPartition, int]:
    """The end offset of every partition of the event topics and the keys topic."""
    topics = [topic_of(s) for s in SERVICES] + [KEYS_TOPIC]
    return dict(await consumer.end_offsets([TopicPartition(t, p) for t in topics
                                            for p in range(partitions)]))


async def _sample(consumer: AIOKafkaConsumer, start: dict[TopicPartition, int],
                  end: dict[TopicPartition, int]) -> dict[str, dict[str, Any]]:
    """Average value bytes and the event types of records written between `start` and `end`,
    per topic (up to SAMPLE records a partition)."""
    left = {tp: min(end[tp], start[tp] + SAMPLE) for tp in end if end[tp] > start[tp]}
    if not left:
        return {}
    sizes: dict[str, list[int]] = {}
    types: dict[str, Counter[str]] = {}
    consumer.assign(list(left))
    for tp in left:
        consumer.seek(tp, start[tp])
    while left:
        batches = await consumer.getmany(timeout_ms=2000, max_records=5000)
        if not batches:
            break
        for tp, records in batches.items():
            for record in records:
                if tp not in left or record.offset >= left[tp]:
                    continue
                if record.offset == left[tp] - 1:
                    del left[tp]
                sizes.setdefault(tp.topic, []).append(len(record.value or b""))
                types.setdefault(tp.topic, Counter())[
                    dict(record.headers or ()).get("ce_type", b"").decode()] += 1
    return {t: {"value_bytes": round(sum(v) / len(v)),
                "types": {k: n / len(v) for k, n in types[t].most_common()}}
            for t, v in sizes.items()}


async def measure_footprint(bench: Bench) -> dict[str, Any]:
    """One P3 run on `bench`'s stack, and the rows and events it wrote per lead created."""
    from bench import p3_sustained
    consumer = AIOKafkaConsumer(bootstrap_servers=bench.stack.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    partitions = bench.stack.settings.topic_partitions
    await consumer.start()
    try:
        await bench.wait_drained(bench.durations.drain_timeout_s)
        await asyncio.sleep(STATS_FLUSH_S)
        rows_before = await _table_counters(bench)
        databases = {s: await bench.database(s) for s in SERVICES}
        commits_before = await _commits(databases)
        offsets_before = await _end_offsets(consumer, partitions)
        result = await p3_sustained.run(bench, floor=False)
        await asyncio.sleep(STATS_FLUSH_S)
        rows_after = await _table_counters(bench)
        commits = {s: n - commits_before[s] for s, n in (await _commits(databases)).items()}
        offsets_after = await _end_offsets(consumer, partitions)
        leads = rows_after["capture"]["leads"][0] - rows_before["capture"]["leads"][0]
        rows = {service: {table: tuple(round((a - b) / leads, 3) for a, b in zip(
            after, rows_before[service].get(table, (0, 0, 0)), strict=True))
            for table, after in sorted(tables.items())
            if after != rows_before[service].get(table, (0, 0, 0))}
            for service, tables in rows_after.items()}
        per_topic: Counter[str] = Counter()
        for tp, end in offsets_after.items():
            per_topic[tp.topic] += end - offsets_before[tp]
        samples = await _sample(consumer, offsets_before, offsets_after)
        events = {t: ({k: round(share * n / leads, 3)
                       for k, share in samples.get(t, {}).get("types", {}).items()},
                      samples.get(t, {}).get("value_bytes", 0))
                  for t, n in sorted(per_topic.items()) if n}
        return {"leads_created": leads, "leads_accepted": result["leads_accepted"],
                "leads_per_s": result["figure"], "cpu_per_lead": result["cpu_per_lead"],
                "load_average_at_end": psutil.getloadavg(),
                "commits_per_lead": {s: round(n / leads, 2) for s, n in commits.items()},
                "FOOTPRINT_ROWS": rows, "FOOTPRINT_EVENTS": events}
    finally:
        await consumer.stop()


async def on_own_stack(footprint: bool, front: str = "asgi", module: str = "bench.p3_floor"
                       ) -> dict[str, Any]:
    """A stack of its own: LeadLoop's footprint (all five services), or the floor (on the
    stack's PostgreSQL and Kafka, the services stopped once their databases are migrated),
    its capture behind `front`."""
    from bench.harness import Durations, stack_settings
    from leadloop_devstack.stack import Stack
    home = Path(tempfile.mkdtemp(prefix="leadloop-p3floor-"))
    stack = Stack(stack_settings(home))
    bench = Bench(stack=stack, durations=Durations(), workdir=home)
    try:
        await stack.start()
        await bench.open()
        if footprint:
            return await measure_footprint(bench)
        await asyncio.gather(*(asyncio.to_thread(svc.stop) for svc in stack.services.values()))
        return await on_bench(bench, front, module)
    finally:
        try:
            await bench.close()
        finally:
            await stack.stop()
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        p2_floor.serve(P3Stage, *sys.argv[1:])
    else:
        print(orjson.dumps(asyncio.run(on_own_stack(
            "--measure-footprint" in sys.argv, "fastapi" if "--fastapi" in sys.argv else "asgi")),
            option=orjson.OPT_INDENT_2).decode())
