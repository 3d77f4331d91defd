"""P2's floor: speed-to-lead through the same durable hops, done by minimal processes with no
framework, so P2's figure can be set against what this machine allows at all.

Five processes, as the stack has, on the stack's PostgreSQL (schemas p2floor_<service> in
capture's database, tables LIKE capture's leads, outbox and inbox) and Kafka (three topics of
their own, the stack's partition count), with raw asyncpg + aiokafka + orjson on uvloop:
- capture: uvicorn (uvloop, httptools) serving a bare ASGI app; POST /v1/leads validates the body
  with capture's own LeadIn (pydantic + email-validator) and group-commits, per transaction, each
  new lead's row, its data key (`leadloop.pii.new_data_key`) in lead_keys, and two outbox rows:
  the key record for the floor's keys topic (the rows and statement shape of
  `leadloop.keyring.issue_keys`) and lead.created with its personal fields sealed under the key
  (`leadloop.pii.seal`, as capture's `capture/leads/keys.py` does); answers 201;
- a relay in every publishing process, woken in-process after each commit: one statement claims
  and deletes outbox rows, produces them with the stack's CloudEvents headers a record batch per
  partition (idempotent producer, acks=all), awaits the acks, commits;
- every process consumes the floor topics its service consumes in leadloop.events.topology (and
  the keys topic, whose records it stores in its own lead_keys, as each service's KeysConsumer
  does), a batch per transaction: inbox insert ON CONFLICT DO NOTHING, lead.created's personal
  fields opened with the lead's key (`leadloop.pii.reveal`), one upsert of per-lead state; scoring
  also writes lead.qualified to its outbox for each lead.created, handoff lead.handed_off for each
  lead.qualified. Offsets are committed once a second, as the consumer runner does.
The clock runs from when bench/loadgen.py was due to post a lead to when its lead.handed_off
reached a plain Kafka reader, as P2 measures. Not done (so the floor is, if anything, low): no
API-key scope lookup beyond the header's presence, no idempotency keys, dedupe or reference data,
a trivial score and routing instead of the model and rules, no waiting for a key that has not
arrived (its event stays sealed), no tracing, metrics or logging, no dead-letter handling.

    python -m bench.p2_floor    # on a stack of its own (PostgreSQL, Kafka, capture's schema)
"""

import asyncio
import base64
import math
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil
import uvicorn
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import FastAPI, Header, Response
from pydantic import ValidationError

from bench.cpu import _process_seconds as process_seconds
from bench.harness import free_port, percentile, wait_until
from bench.kafka_probe import HandoffReader
from capture.leads.validation import LeadIn
from leadloop.events.topology import CONSUMES, SERVICES
from leadloop.kafka import KeyPartitions
from leadloop.pii import has_sealed_data, new_data_key, reveal, seal

CREATED, QUALIFIED, HANDED_OFF = (f"leadloop.lead.{t}.v1" for t in
                                  ("created", "qualified", "handed_off"))
KEYS = "keys"  # the keys topic's pseudo-publisher in topic(): capture issues, all others read
PUBLISHERS = ("capture", "scoring", "handoff")  # the services whose topics a lead crosses
REACTS = {"scoring": (CREATED, QUALIFIED), "handoff": (QUALIFIED, HANDED_OFF)}
# (fetch_min_bytes, fetch_max_wait_ms): the speed-to-lead path fetches at once, as in the stack.
FETCH = {"scoring": (1, 500), "handoff": (1, 500)}
RATES = (10.0, 100.0)  # leads/s offered: the light load first, then P2's rate

# Outbox columns the relay sends as CloudEvents headers (with ce_specversion and content-type),
# as the stack's relay does.
HEADERS = (("ce_id", "event_id"), ("ce_source", "source"), ("ce_type", "event_type"),
           ("ce_subject", "subject"), ("ce_time", "occurred_at"),
           ("ce_traceparent", "traceparent"))
INBOX = ("INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::text[]) "
         "ON CONFLICT DO NOTHING RETURNING event_id")
UPSERT = ("INSERT INTO lead_state (lead_id, last_event, data) SELECT * FROM unnest($1::text[], "
          "$2::text[], $3::jsonb[]) ON CONFLICT (lead_id) DO UPDATE SET last_event = "
          "excluded.last_event, data = lead_state.data || excluded.data, updated_at = now()")
OUTBOX = ("INSERT INTO outbox (event_id, topic, event_type, subject, source, occurred_at, "
          "traceparent, data) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
          "$4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::bytea[])")
CLAIM = ("DELETE FROM outbox AS o USING (SELECT id FROM outbox ORDER BY id LIMIT 500 "
         "FOR UPDATE SKIP LOCKED) AS c WHERE o.id = c.id RETURNING o.id, o.event_id, o.topic, "
         "o.event_type, o.subject, o.source, o.occurred_at, o.traceparent, o.data")
# leadloop.keyring's statements: a key per new lead (its record goes through OUTBOX), and the
# copies the other services keep.
INSERT_KEYS = ("INSERT INTO lead_keys (lead_id, data_key) SELECT * FROM unnest($1::text[], "
               "$2::bytea[]) ON CONFLICT DO NOTHING RETURNING lead_id")
KEYS_OF = "SELECT lead_id, data_key FROM lead_keys WHERE lead_id = ANY($1::text[])"
KEY_RECORD_TYPE = "leadloop.lead.key.v1"
LEADS = ("INSERT INTO leads (id, email, profile, consent, source) SELECT * FROM unnest("
         "$1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $5::jsonb[]) ON CONFLICT DO NOTHING")


def topic(tag: str, service: str, floor: str = "p2floor") -> str:
    return f"bench.{floor}.{tag}.{service}"


def schema_ddl(service: str) -> list[str]:
    s = f"p2floor_{service}"
    return [f"DROP SCHEMA IF EXISTS {s} CASCADE", f"CREATE SCHEMA {s}",
            f"CREATE TABLE {s}.outbox (LIKE public.outbox INCLUDING ALL)",
            f"CREATE TABLE {s}.processed_events (LIKE public.processed_events INCLUDING ALL)",
            f"CREATE TABLE {s}.lead_keys (LIKE public.lead_keys INCLUDING ALL)",
            f"CREATE TABLE {s}.lead_state (lead_id text PRIMARY KEY, last_event text NOT NULL, "
            "data jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
            ] + ([f"CREATE TABLE {s}.leads (LIKE public.leads INCLUDING ALL)"]
                 if service == "capture" else [])


def event(kind: str, lead_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "lead_id": lead_id, "data": data}


def decide(kind: str, e: dict[str, Any]) -> dict[str, Any]:
    """Scoring's score or handoff's rep, in pure code (kept trivial)."""
    size = e["data"].get("company_size") or 0
    return {"score": 60 + 40 * (size >= 100)} if kind == QUALIFIED else {"rep": "floor-rep"}


async def write_outbox(conn: asyncpg.Connection, service: str,
                       events: list[tuple[str, dict[str, Any]]]) -> None:
    """One insert of (topic, event) rows, in order."""
    now = datetime.now(UTC)
    await conn.execute(OUTBOX, [e["id"] for _, e in events], [t for t, _ in events],
                       [e["type"] for _, e in events], [e["lead_id"] for _, e in events],
                       [service] * len(events), [now] * len(events),
                       [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01" for _ in events],
                       [orjson.dumps(e) for _, e in events])


def key_record(lead_id: str, key: bytes) -> dict[str, Any]:
    """A lead's key record for the keys topic, as leadloop.keyring writes it."""
    return {"id": f"key-{lead_id}-{time.time_ns()}", "type": KEY_RECORD_TYPE,
            "lead_id": lead_id, "data": {"lead_id": lead_id,
                                         "data_key": base64.b64encode(key).decode()}}


class Stage:
    """One service's process: its consumer, its relay and (capture) its group commit. The hooks
    `state` and `reactions` are what a floor's stage does with a batch (P3's floor overrides them).
    """

    FLOOR = "p2floor"  # schema prefix and topic infix
    PUBLISHERS: tuple[str, ...] = PUBLISHERS

    def __init__(self, service: str, tag: str, dsn: str, bootstrap: str, ready: Path) -> None:
        self.service, self.tag, self.dsn, self.bootstrap = service, tag, dsn, bootstrap
        self.ready, self.wake = ready, asyncio.Event()  # wake: the outbox has new rows
        self.leads: asyncio.Queue[tuple[uuid.UUID, dict[str, Any], asyncio.Future[None]]]
        self.leads = asyncio.Queue()

    def topic(self, publisher: str) -> str:
        return topic(self.tag, publisher, self.FLOOR)

    def consumed(self) -> list[str]:
        """The floor topics this service consumes, and the keys topic unless it issues keys."""
        return [self.topic(p) for p in self.PUBLISHERS if p in CONSUMES[self.service]] + (
            [self.topic(KEYS)] if self.service != "capture" else [])

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn, server_settings={
            "search_path": f"{self.FLOOR}_{self.service}"})

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                         enable_idempotence=True, linger_ms=0)
        await self.producer.start()
        self.partitions = KeyPartitions(self.producer)
        self.tasks = [asyncio.create_task(self.relay(await self.connect())),
                      asyncio.create_task(self.consume(await self.connect()))]
        if self.service == "capture":
            self.tasks.append(asyncio.create_task(self.group_commit(await self.connect())))

    async def relay(self, conn: asyncpg.Connection) -> None:
        while True:
            try:  # woken after each commit that wrote the outbox; polls once a second anyway
                await asyncio.wait_for(self.wake.wait(), 1.0)
            except TimeoutError:
                pass
            self.wake.clear()
            while True:
                async with conn.transaction():
                    rows = sorted(await conn.fetch(CLAIM), key=lambda r: r["id"])
                    await asyncio.gather(*await self.send(rows))
                if len(rows) < 500:  # the rest were committed after this claim: woken again
                    break

    async def send(self, rows: list[asyncpg.Record]) -> list[asyncio.Future[Any]]:
        """The rows handed to the producer a record batch per partition, in row order, as the
        stack's relay does (cheaper than a send per record); the deliveries to await."""
        deliveries: list[asyncio.Future[Any]] = []
        batches: dict[tuple[str, int], Any] = {}
        for r in rows:
            key, topic = r["subject"].encode(), r["topic"]
            headers = [("ce_specversion", b"1.0"), ("content-type", b"application/json")] + [
                (name, (r[column].isoformat() if column == "occurred_at" else r[column]).encode())
                for name, column in HEADERS]
            partition = await self.partitions.of(topic, key)
            batch = batches.get((topic, partition))
            if batch is None or batch.append(key=key, value=r["data"], timestamp=None,
                                             headers=headers) is None:
                if batch is not None:  # full: send it, go on in a new one
                    deliveries.append(await self.producer.send_batch(batch, topic,
                                                                     partition=partition))
                batch = batches[(topic, partition)] = self.producer.create_batch()
                batch.append(key=key, value=r["data"], timestamp=None, headers=headers)
        for (topic, partition), batch in batches.items():
            deliveries.append(await self.producer.send_batch(batch, topic, partition=partition))
        return deliveries

    async def consume(self, conn: asyncpg.Connection) -> None:
        min_bytes, max_wait_ms = FETCH.get(self.service, (256 * 1024, 200))
        keys_topic = self.topic(KEYS)
        consumer = AIOKafkaConsumer(
            *self.consumed(), bootstrap_servers=self.bootstrap,
            group_id=f"{self.FLOOR}-{self.tag}-{self.service}",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500,
            fetch_min_bytes=min_bytes, fetch_max_wait_ms=max_wait_ms)
        await consumer.start()
        committed, pending = time.monotonic(), False
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            if consumer.assignment() and not self.ready.exists():
                self.ready.touch()
            records = [r for rs in batches.values() for r in rs]
            keys = [orjson.loads(r.value)["data"] for r in records if r.topic == keys_topic]
            events = [orjson.loads(r.value) for r in records if r.topic != keys_topic]
            if (events or keys) and await self.apply(conn, events, keys):
                self.wake.set()
            pending = pending or bool(records)
            if pending and time.monotonic() - committed >= 1.0:  # also once the input stops
                await consumer.commit()
                committed, pending = time.monotonic(), False

    async def apply(self, conn: asyncpg.Connection, events: list[dict[str, Any]],
                    keys: list[dict[str, Any]]) -> int:
        """One transaction for the batch: key copies, inbox, personal fields opened, state,
        outbox; the number of events published."""
        async with conn.transaction():
            if keys:  # in lead id order, as every writer of lead_keys inserts
                ordered = sorted(keys, key=lambda k: k["lead_id"])
                await conn.execute(INSERT_KEYS, [k["lead_id"] for k in ordered],
                                   [base64.b64decode(k["data_key"]) for k in ordered])
            if not events:
                return 0
            fresh = {r[0] for r in await conn.fetch(INBOX, self.service,
                                                    [e["id"] for e in events])}
            new = await self.opened(conn, [e for e in events if e["id"] in fresh])
            await self.state(conn, new)
            out = self.reactions(new)
            if out:
                await write_outbox(conn, self.service, out)
        return len(out)

    async def opened(self, conn: asyncpg.Connection, events: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
        """`events` with their sealed personal fields opened, the keys read in one query."""
        sealed = [e for e in events if has_sealed_data(e["data"])]
        if not sealed:
            return events
        keys = await self.keys_of(conn, list({e["lead_id"] for e in sealed}))
        return [e | {"data": reveal(e["data"], e["lead_id"], keys[e["lead_id"]])}
                if e["lead_id"] in keys and has_sealed_data(e["data"]) else e for e in events]

    async def keys_of(self, conn: asyncpg.Connection, lead_ids: list[str]) -> dict[str, bytes]:
        """These leads' data keys, from the stage's copies (one query)."""
        return {r[0]: r[1] for r in await conn.fetch(KEYS_OF, lead_ids)}

    async def state(self, conn: asyncpg.Connection, events: list[dict[str, Any]]) -> None:
        """The per-lead state the batch changes: one upsert, a lead's last event wins."""
        latest = {e["lead_id"]: e for e in events}
        if latest:
            await conn.execute(UPSERT, list(latest), [e["type"] for e in latest.values()],
                               [orjson.dumps(e["data"]).decode() for e in latest.values()])

    def reactions(self, events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """(topic, event) to publish: scoring's qualification, handoff's hand-off."""
        trigger, reaction = REACTS.get(self.service, ("", ""))
        return [(self.topic(self.service), event(reaction, e["lead_id"], decide(reaction, e)
                                                 | {"received_at": e["data"]["received_at"]}))
                for e in events if e["type"] == trigger]

    def created(self, lead_id: str, lead: dict[str, Any], key: bytes
                ) -> list[tuple[str, dict[str, Any]]]:
        """Capture's outbox rows for a new lead: its key's record, then lead.created sealed."""
        return [(self.topic(KEYS), key_record(lead_id, key)),
                (self.topic("capture"), event(CREATED, lead_id, seal(lead, lead_id, key)))]

    async def group_commit(self, conn: asyncpg.Connection) -> None:
        """Capture's writes: the requests that queued while a commit ran share the next one."""
        while True:
            group = [await self.leads.get()]
            while not self.leads.empty():
                group.append(self.leads.get_nowait())
            leads = [(lead_id, lead) for lead_id, lead, _ in group]
            profiles = [{k: v for k, v in d.items() if k not in ("consent", "source",
                                                                  "received_at")} for _, d in leads]
            keys = {str(i): new_data_key() for i, _ in leads}
            try:
                async with conn.transaction():
                    await conn.execute(LEADS, [i for i, _ in leads], [d["email"] for _, d in leads],
                                       *([orjson.dumps(d).decode() for d in column] for column in (
                                           profiles, [d["consent"] for _, d in leads],
                                           [d["source"] for _, d in leads])))
                    ordered = sorted(keys)
                    await conn.execute(INSERT_KEYS, ordered, [keys[i] for i in ordered])
                    await write_outbox(conn, "capture", [
                        row for i, d in leads for row in self.created(str(i), d, keys[str(i)])])
            except Exception as exc:  # every request of the group answers the failure
                for *_, done in group:
                    done.set_exception(exc)
                continue
            self.wake.set()
            for *_, done in group:
                done.set_result(None)

    async def capture(self, lead_in: LeadIn) -> bytes:
        """Write a validated lead with the next group commit; the 201 answer's body."""
        # received_at: for the latency inside the pipeline, not the client's
        lead = lead_in.model_dump(mode="json") | {"received_at": time.monotonic()}
        lead_id, done = uuid.uuid4(), asyncio.get_running_loop().create_future()
        self.leads.put_nowait((lead_id, lead, done))
        await done
        return orjson.dumps({"lead_id": lead_id, "status": "created"})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Capture's bare ASGI app: POST /v1/leads, and /healthz (any method)."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            return await send({"type": "lifespan.shutdown.complete"})
        body, message = b"", {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            body += message.get("body", b"")
        status, answer = 200, b"{}"
        if scope["path"] == "/v1/leads" and b"x-api-key" not in dict(scope["headers"]):
            status, answer = 401, b'{"detail": "an API key is needed"}'
        elif scope["path"] == "/v1/leads":
            try:
                status, answer = 201, await self.capture(LeadIn.model_validate_json(body))
            except ValidationError as exc:
                status, answer = 422, orjson.dumps(exc.errors(
                    include_url=False, include_input=False, include_context=False))
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]})
        await send({"type": "http.response.body", "body": answer})


def fastapi_front(stage: Stage) -> FastAPI:
    """The floor's capture behind the smallest FastAPI app that serves it: one route, its body
    validated by FastAPI as LeadIn (as the bare app P1 divides by does), the API key header
    required, and nothing else (no scope lookup, middleware or other dependency). What the
    framework the project is built on costs on top of the durable work (P1's second floor)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await stage.start()
        yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/leads", status_code=201)
    async def post_lead(lead: LeadIn, x_api_key: str = Header()) -> Response:
        return Response(await stage.capture(lead), status_code=201,
                        media_type="application/json")

    @app.api_route("/healthz", methods=["GET", "POST"])  # as the bare app answers it
    async def healthz() -> dict[str, str]:
        return {}

    return app


def serve(kind: type[Stage], service: str, tag: str, dsn: str, bootstrap: str, port: str,
          ready: str, front: str = "asgi") -> None:
    """A stage's process: capture under uvicorn (as a bare ASGI app, or with `front`
    "fastapi" behind `fastapi_front`), the others a bare uvloop."""
    stage = kind(service, tag, dsn, bootstrap, Path(ready))
    if service == "capture":
        app = fastapi_front(stage) if front == "fastapi" else stage
        uvicorn.run(app, host="127.0.0.1", port=int(port), loop="uvloop", http="httptools",
                    lifespan="on", log_level="warning", access_log=False)
        return

    async def forever() -> None:
        await stage.start()
        await asyncio.gather(*stage.tasks)  # a failing task ends the process
    uvloop.run(forever())


def _cpu_seconds(processes: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of each process (with its children), and of the whole machine."""
    return ({name: process_seconds(p) for name, p in processes.items()}
            | {"machine": sum(psutil.cpu_times()[:3])})


async def measure(dsn: str, bootstrap: str, partitions: int, infrastructure: dict[str, Any],
                  workdir: Path, warmup_s: float = 3.0, seconds: float = 20.0,
                  light_s: float = 10.0, module: str = "bench.p2_floor") -> dict[str, Any]:
    """Start the five processes, offer each of RATES, stop them; latencies and CPU per lead.
    `infrastructure`: psutil processes of PostgreSQL and Kafka, by name. `module` runs each
    process (`python -m module service ...`): this floor, or bench/p2_floor_stack.py's."""
    tag, port = uuid.uuid4().hex[:8], free_port()
    inside: dict[str, float] = {}  # lead id -> seconds from capture's receipt to its handoff

    def note_inside(record: ConsumerRecord[bytes, bytes], arrived: float) -> None:
        lead_id = dict(record.headers)["ce_subject"].decode()
        value = orjson.loads(record.value)  # the clock is in the data, or in the envelope
        inside[lead_id] = arrived - value.get("received_at", value["data"].get("received_at"))
    reader = HandoffReader(bootstrap, partitions, topic(tag, "handoff"), note_inside)
    received = reader.received  # lead id -> when its lead.handed_off was read
    reader_started = False
    url = f"http://127.0.0.1:{port}/v1/leads"
    conn, admin = await asyncpg.connect(dsn), AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    procs: dict[str, asyncio.subprocess.Process] = {}
    ready = {s: workdir / f"p2floor-{tag}-{s}.ready" for s in SERVICES}

    async def offer(rate: float, span: float) -> list[dict[str, Any]]:
        out = workdir / f"p2floor-sent-{rate:g}.json"
        loadgen = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", url, "floor", "--rate", str(rate),
            "--seconds", str(span), "--out", str(out))
        if await loadgen.wait() != 0:
            raise RuntimeError("the load generator failed")
        entries: list[dict[str, Any]] = orjson.loads(out.read_bytes())

        async def handed_off() -> bool:
            return all(e.get("lead_id") in received for e in entries)
        await wait_until(handed_off, 60)
        return entries

    async def joined() -> bool:
        if any(p.returncode is not None for p in procs.values()):
            raise RuntimeError("a process of the floor exited")
        return all(marker.exists() for marker in ready.values())
    try:
        for statement in (s for service in SERVICES for s in schema_ddl(service)):
            await conn.execute(statement)
        await admin.create_topics([NewTopic(topic(tag, p), partitions, 1)
                                   for p in (*PUBLISHERS, KEYS)])
        await reader.start()
        reader_started = True
        for service in SERVICES:
            procs[service] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, service, tag, dsn, bootstrap, str(port),
                str(ready[service]))
        if not await wait_until(joined, 120):
            raise RuntimeError("the floor's consumers did not join their groups")
        await offer(2.0, 2.0)  # connections, metadata and first statements, not measured
        meter = {**{s: psutil.Process(p.pid) for s, p in procs.items()}, **infrastructure}
        results: dict[str, Any] = {"load_average_at_start": psutil.getloadavg()}
        for rate in RATES:
            warm, span = (warmup_s, warmup_s + seconds) if rate == RATES[-1] else (0, light_s)
            before = _cpu_seconds(meter)
            entries = await offer(rate, span)
            spent = {k: v - before[k] for k, v in _cpu_seconds(meter).items()}
            spent["pipeline"] = sum(v for k, v in spent.items() if k in SERVICES)
            latencies = [(received[e["lead_id"]] - e["due"]) * 1000 if e.get("lead_id")
                         in received else math.inf for e in entries if e["n"] >= rate * warm]
            shares = {  # the load generator's lateness, the POST's answer (both from when it
                # was due), and capture's receipt of the POST to the lead.handed_off read
                "sent": [e["sent"] - e["due"] for e in entries if e["n"] >= rate * warm],
                "post": [e["answered"] - e["due"] for e in entries if e["n"] >= rate * warm],
                "inside": [inside.get(e["lead_id"], math.inf) for e in entries
                           if e["n"] >= rate * warm]}
            results[f"{rate:g}"] = {
                "leads": len(latencies), "p50_ms": percentile(latencies, 50),
                "p99_ms": percentile(latencies, 99), "max_ms": max(latencies),
                **{f"{k}_p{p}_ms": percentile(v, p) * 1000 for k, v in shares.items()
                   for p in (50, 99)},
                "not_handed_off": latencies.count(math.inf),
                "cpu_ms_per_lead": {k: round(v * 1000 / len(entries), 2)
                                    for k, v in spent.items()}}
        return results | {"load_average_at_end": psutil.getloadavg()}
    finally:
        for process in procs.values():
            process.terminate()
        await asyncio.gather(*(p.wait() for p in procs.values()))
        if reader_started:
            await reader.stop()
        await admin.delete_topics([topic(tag, p) for p in (*PUBLISHERS, KEYS)])
        await admin.close()
        for service in SERVICES:
            await conn.execute(f"DROP SCHEMA IF EXISTS p2floor_{service} CASCADE")
        await conn.close()


async def on_own_stack(module: str = "bench.p2_floor") -> dict[str, Any]:
    """PostgreSQL and Kafka of a bench stack of its own; capture runs only for its migrations."""
    from bench.cpu import CpuMeter
    from bench.harness import stack_settings
    from leadloop_devstack.stack import Stack
    home = Path(tempfile.mkdtemp(prefix="leadloop-p2floor-"))
    stack = Stack(stack_settings(home).model_copy(update={"services": ("capture",)}))
    try:
        await stack.start()
        infrastructure = CpuMeter.of(stack).infrastructure
        await asyncio.to_thread(stack.services["capture"].stop)
        return await measure(stack.settings.database_url_for("capture").replace("+asyncpg", ""),
                             stack.bootstrap_servers, stack.settings.topic_partitions,
                             infrastructure, home, module=module)
    finally:
        await stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        serve(Stage, *sys.argv[1:])
    else:
        print(orjson.dumps(asyncio.run(on_own_stack()), option=orjson.OPT_INDENT_2).decode())
