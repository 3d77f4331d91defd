"""P7's floor: page views through capture and scoring with the same durable work as the stack,
done by minimal processes with no framework, so P7's figure can be set against what this machine
allows at all.

Five processes, as the stack has, each on its own service's database of the stack's PostgreSQL
(a schema p7floor with tables LIKE the service's own, indexes included) and on the stack's Kafka
(two topics of their own), with raw asyncpg + aiokafka + orjson on uvloop; the consumer settings,
capture's bare ASGI serving and the relay's claim are bench/p2_floor.py's Stage (the relay
produces a record batch per partition, as the stack's does):
- capture: POST /v1/activities (an array of up to 1,000) validates each item with capture's own
  ActivityIn, group-commits the requests that queue while a commit runs (two in flight, as
  capture's group commit): which leads exist (one query), the activities (capture's own
  `insert_activities`) and a lead.activity outbox row per new one, its personal fields (URL,
  properties) sealed under the lead's data key (`leadloop.pii.seal`, the keys read in one query);
  answers 202/207 with each item's result by index;
- every process consumes the floor topics its service consumes in leadloop.events.topology, a
  batch per transaction, opens the personal fields its service's handlers read (OPENS,
  `leadloop.pii.reveal`) and writes what its service writes per page view (FOOTPRINT);
  scoring's decision is the default model's page-view rule alone (2 points each, up to 20),
  applied per activity in order, with a lead.scored for each change, as scoring announces one.
Driven as P7 (bench/p7_activities.py): the same arrays of 1,000 about LEADS leads, from the
same number of concurrent clients; the leads (and their keys) are written into each schema first,
and 1,000 page views about 100 others warm the processes up. The clock runs from the first POST
until scoring has stored every activity; CPU per activity is charged to the five processes and
to PostgreSQL and Kafka, and `cpu_bound_activities_per_s` is what all the machine's cores would
allow at that cost (on a shared machine the measured rate is what the others left). Not done
(so the floor is, if anything, high): no API-key scope lookup beyond the header's presence, no
idempotency keys, email or visitor lookups, no keys topic, no scoring model beyond that rule, no
state kept between batches, no tracing, metrics, logging or dead-letter handling.

    python -m bench.p7_floor    # on a stack of its own (PostgreSQL, Kafka, migrated databases)
"""

import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import ValidationError

from bench import p7_activities  # P7's load, read at run time (that module imports this one)
from bench.cpu import _process_seconds as process_seconds
from bench.harness import free_port, wait_until
from bench.p2_floor import FETCH, INBOX, OUTBOX, Stage, event, serve
from capture.activities.api import activity_properties
from capture.activities.repository import Activity, insert_activities
from capture.activities.schemas import ActivityIn
from capture.leads.repository import existing_lead_ids
from leadloop.events.topology import CONSUMES, SERVICES
from leadloop.pii import new_data_key, reveal, seal

SCHEMA = "p7floor"
ACTIVITY, SCORED = "leadloop.lead.activity.v1", "leadloop.lead.scored.v1"
PUBLISHERS = ("capture", "scoring")  # the topics a page view crosses
WARMUP_LEADS = 100  # leads of the warm-up array, apart from P7's so their scores start at 0

# Rows written per page view in P7 on a stack, by service and table: pg_stat_user_tables
# (n_tup_ins / n_tup_upd / n_tup_del) of each service's database before and after 50,000 page
# views about 400 fresh leads, sent as P7 sends them, until every consumer had drained
# (2026-12-07 04:40 UTC, main at 9af25dd). The outbox rows are inserted and deleted again by the
# relay. Handoff wrote nothing (it reads lead.activity for form submissions only), nor did capture
# for lead.scored. Per lead.scored (0.082 per page view): a score_history row and an outbox row in
# scoring, an inbox row in nurture and outcomes, a timeline row and a funnel_leads update in
# outcomes.
FOOTPRINT: dict[str, dict[str, tuple[float, float]]] = {  # table: (inserted, updated)
    "capture": {"activities": (1.0, 0.0), "outbox": (1.0, 0.0)},
    "scoring": {"processed_events": (1.0, 0.0), "lead_activities": (1.0, 0.0),
                "leads": (0.0, 0.44), "score_history": (0.082, 0.0), "outbox": (0.082, 0.0)},
    "handoff": {},
    "nurture": {"processed_events": (1.082, 0.0), "engagements": (1.0, 0.0),
                "lead_states": (0.0, 0.41)},
    "outcomes": {"processed_events": (1.082, 0.0), "timeline_entries": (1.082, 0.0),
                 "funnel_leads": (0.0, 0.082)},
}
# The personal fields of lead.activity each consumer opens (its handlers' reads_personal_fields;
# None: all of them), as the stack's consumers do with the lead's key; handoff and capture read
# none of a page view's.
OPENS: dict[str, tuple[str, ...] | None] = {"scoring": None, "nurture": ("url",),
                                            "outcomes": ("url", "referrer", "landing_page")}
LEAD_TABLE = {"capture": "leads", "scoring": "leads", "nurture": "lead_states",
              "outcomes": "funnel_leads"}  # the per-lead row each service keeps
PAGE_VIEW_POINTS, ENGAGEMENT_CAP, FIT = 2, 20, 40  # the default model's page-view rule

KEYS_OF = "SELECT lead_id, data_key FROM lead_keys WHERE lead_id = ANY($1::text[])"
SCORING_LEADS = ("SELECT lead_id, fit_score, engagement_score FROM leads "
                 "WHERE lead_id = ANY($1::uuid[])")
SCORING_ACTIVITIES = (
    "INSERT INTO lead_activities (activity_id, lead_id, kind, url, occurred_at, event_id, seconds)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], "
    "$6::text[], $7::float8[]) ON CONFLICT DO NOTHING")
SCORING_UPDATE = (
    "UPDATE leads AS l SET engagement_score = u.engagement, score = u.score, scored_at = now(), "
    "last_event_id = u.event_id, last_event_type = $5, last_event_at = now(), "
    "activities_version = l.activities_version + 1 FROM unnest($1::uuid[], $2::int[], $3::int[], "
    "$4::text[]) AS u(lead_id, engagement, score, event_id) WHERE l.lead_id = u.lead_id")
SCORE_HISTORY = (
    "INSERT INTO score_history (lead_id, score, fit_score, engagement_score, grade, is_mql, "
    "model_version, event_id, scored_at) SELECT l, s, $3, s - $3, 'B', false, 1, e, now() "
    "FROM unnest($1::uuid[], $2::int[], $4::text[]) AS u(l, s, e)")
ENGAGEMENTS = ("INSERT INTO engagements (id, lead_id, kind, url, occurred_at) SELECT * FROM "
               "unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[]) "
               "ON CONFLICT DO NOTHING")
NURTURE_STATES = (
    "UPDATE lead_states AS s SET score = coalesce(u.score, s.score), scored_at = CASE WHEN "
    "u.score IS NULL THEN s.scored_at ELSE now() END, updated_at = now() "
    "FROM unnest($1::uuid[], $2::int[]) AS u(lead_id, score) WHERE s.lead_id = u.lead_id")
TIMELINE = ("INSERT INTO timeline_entries (entry_id, lead_id, occurred_at, type, kind, summary, "
            "detail) SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::text[], "
            "$5::text[], $6::text[], $7::jsonb[]) ON CONFLICT DO NOTHING")
FUNNEL_SCORES = ("UPDATE funnel_leads AS f SET score = u.score, scored_at = now(), updated_at = "
                 "now() FROM unnest($1::uuid[], $2::int[]) AS u(lead_id, score) "
                 "WHERE f.lead_id = u.lead_id")


def topic(tag: str, publisher: str) -> str:
    return f"bench.p7floor.{tag}.{publisher}"


def schema_ddl(service: str) -> list[str]:
    """The floor's schema in `service`'s database: its tables LIKE the service's own."""
    tables = {"outbox", "processed_events", "lead_keys", *FOOTPRINT[service]} | (
        {LEAD_TABLE[service]} if service in LEAD_TABLE else set())
    return [f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}"] + [
        f"CREATE TABLE {SCHEMA}.{t} (LIKE public.{t} INCLUDING ALL)" for t in sorted(tables)]


async def seed_leads(conn: asyncpg.Connection, service: str, lead_ids: list[uuid.UUID],
                     keys: list[bytes]) -> None:
    """The leads as each service holds them before the page views: new, engagement 0, and their
    data keys (capture issued them; the others keep copies from the keys topic)."""
    await conn.execute(f"INSERT INTO {SCHEMA}.lead_keys (lead_id, data_key) SELECT * FROM "
                       "unnest($1::text[], $2::bytea[])", [str(i) for i in lead_ids], keys)
    if service == "capture":
        await conn.execute(
            f"INSERT INTO {SCHEMA}.leads (id, email, profile, consent, source) SELECT i, "
            "'p7floor.' || i || '@activity-bench.com', '{}', '{}', '{}' FROM unnest($1::uuid[]) "
            "AS i", lead_ids)
    elif service == "scoring":
        await conn.execute(f"INSERT INTO {SCHEMA}.leads (lead_id, fit_score, engagement_score, "
                           f"score) SELECT i, {FIT}, 0, {FIT} FROM unnest($1::uuid[]) AS i",
                           lead_ids)
    elif service in LEAD_TABLE:
        await conn.execute(f"INSERT INTO {SCHEMA}.{LEAD_TABLE[service]} (lead_id) "
                           "SELECT * FROM unnest($1::uuid[])", lead_ids)


async def row_counts(conns: dict[str, asyncpg.Connection]) -> dict[str, dict[str, int]]:
    """Rows in the tables the floor inserts into (FOOTPRINT; not the outbox, which the relay
    empties)."""
    return {s: {t: int(await conns[s].fetchval(f"SELECT count(*) FROM {SCHEMA}.{t}"))
                for t, (inserted, _) in FOOTPRINT[s].items() if inserted and t != "outbox"}
            for s in SERVICES}


async def all_applied(conns: dict[str, asyncpg.Connection], activities: int,
                      before: dict[str, dict[str, int]], timeout_s: float = 60.0) -> bool:
    """Until scoring has stored `activities` more and nurture and outcomes have applied them and
    every lead.scored they caused (they may finish after scoring)."""
    async def applied() -> bool:
        now = await row_counts(conns)
        scored = now["scoring"]["score_history"] - before["scoring"]["score_history"]
        return (now["scoring"]["lead_activities"] - before["scoring"]["lead_activities"]
                >= activities and all(now[s]["processed_events"] - before[s]["processed_events"]
                                      >= activities + scored for s in ("nurture", "outcomes")))
    return await wait_until(applied, timeout_s, interval_s=0.2)


async def rows_written(conns: dict[str, asyncpg.Connection], activities: int,
                       before: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """Rows inserted per activity once every consumer has applied the page views, to check the
    floor against FOOTPRINT."""
    await all_applied(conns, activities, before)
    now = await row_counts(conns)
    return {s: {t: round((n - before[s][t]) / max(1, activities), 4) for t, n in now[s].items()}
            for s in SERVICES if now[s]}


async def vacuumed(conn: asyncpg.Connection, timeout_s: float = 60.0) -> bool:
    """Until no autovacuum worker runs in the cluster: after P7's 50,000 page views the stack's
    tables are vacuumed and analysed, which would be charged to the floor's PostgreSQL."""
    async def idle() -> bool:
        return not await conn.fetchval("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE backend_type = 'autovacuum worker'")
    return await wait_until(idle, timeout_s, interval_s=0.5)


async def write_events(conn: asyncpg.Connection, service: str, tag: str,
                       events: list[dict[str, Any]]) -> None:
    """One outbox insert (p2_floor's statement) of `service`'s events."""
    n, now = len(events), datetime.now(UTC)
    await conn.execute(OUTBOX, [e["id"] for e in events], [topic(tag, service)] * n,
                       [e["type"] for e in events], [e["lead_id"] for e in events],
                       [service] * n, [now] * n,
                       [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01" for _ in events],
                       [orjson.dumps(e) for e in events])


def rescore(leads: dict[str, tuple[int, int]], views: list[dict[str, Any]]
            ) -> tuple[dict[str, tuple[int, int, str]], list[dict[str, Any]]]:
    """Each page view in order through the page-view rule: the leads' new (engagement, score,
    last event id), and a lead.scored for every view that moved a score."""
    latest: dict[str, tuple[int, int, str]] = {}
    scored = []
    for e in views:
        lead_id = e["lead_id"]
        fit, engagement = leads[lead_id]
        moved = min(ENGAGEMENT_CAP, engagement + PAGE_VIEW_POINTS)
        leads[lead_id] = fit, moved
        latest[lead_id] = moved, fit + moved, e["id"]
        if moved != engagement:
            scored.append(event(SCORED, lead_id, {"lead_id": lead_id, "score": fit + moved,
                                                  "fit_score": fit, "engagement_score": moved,
                                                  "scored_at": e["data"]["occurred_at"]}))
    return latest, scored


class ActivityStage(Stage):
    """One service's process in P7's floor: p2_floor's relay, and its own consumer and (capture)
    group commit of activities."""

    def __init__(self, service: str, tag: str, dsn: str, bootstrap: str, ready: Path) -> None:
        super().__init__(service, tag, dsn, bootstrap, ready)
        self.arrays: asyncio.Queue[tuple[list[Activity], asyncio.Future[tuple[set[uuid.UUID],
                                                                              set[uuid.UUID]]]]]
        self.arrays = asyncio.Queue()

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn, server_settings={"search_path": SCHEMA})

    async def start(self) -> None:
        """p2_floor's tasks, and in capture a second group commit on its own connection: two
        batches in flight, as capture's group commit writes them (one waits for its commit's
        WAL flush while the other fills)."""
        await super().start()
        if self.service == "capture":
            self.tasks.append(asyncio.create_task(self.group_commit(await self.connect())))

    async def consume(self, conn: asyncpg.Connection) -> None:
        min_bytes, max_wait_ms = FETCH.get(self.service, (256 * 1024, 200))
        consumer = AIOKafkaConsumer(
            *(topic(self.tag, p) for p in PUBLISHERS if p in CONSUMES[self.service]),
            bootstrap_servers=self.bootstrap, group_id=f"p7floor-{self.tag}-{self.service}",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500,
            fetch_min_bytes=min_bytes, fetch_max_wait_ms=max_wait_ms)
        await consumer.start()
        committed = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            if consumer.assignment() and not self.ready.exists():
                self.ready.touch()
            events = [orjson.loads(r.value) for rs in batches.values() for r in rs]
            if events and await self.apply_events(conn, events):
                self.wake.set()
            if events and time.monotonic() - committed >= 1.0:
                await consumer.commit()
                committed = time.monotonic()

    async def apply_events(self, conn: asyncpg.Connection, events: list[dict[str, Any]]) -> int:
        """One transaction for the batch, writing what the service writes (FOOTPRINT); the
        number of events published. Capture and handoff only read these."""
        if self.service in ("capture", "handoff"):
            return 0
        async with conn.transaction():
            fresh = {r[0] for r in await conn.fetch(INBOX, self.service,
                                                    [e["id"] for e in events])}
            new = await self.opened(conn, [e for e in events if e["id"] in fresh])
            views = [e for e in new if e["type"] == ACTIVITY and e["data"]["kind"] == "page_view"]
            if self.service == "scoring":
                return await self.score(conn, views)
            if self.service == "nurture":
                await self.engage(conn, new, views)
            else:
                await self.timeline(conn, new)
        return 0

    async def opened(self, conn: asyncpg.Connection, events: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
        """The page views with the personal fields this service reads opened, the batch's keys
        read in one query."""
        leads = list({e["lead_id"] for e in events if e["type"] == ACTIVITY})
        if not leads:
            return events
        keys = dict(await conn.fetch(KEYS_OF, leads))
        return [e | {"data": reveal(e["data"], e["lead_id"], keys[e["lead_id"]],
                                    OPENS[self.service])} if e["type"] == ACTIVITY else e
                for e in events]

    async def score(self, conn: asyncpg.Connection, views: list[dict[str, Any]]) -> int:
        """Scoring: the activities kept, the leads rescored, score history and lead.scored."""
        if not views:
            return 0
        ids = list({uuid.UUID(e["lead_id"]) for e in views})
        leads = {str(r[0]): (r[1], r[2]) for r in await conn.fetch(SCORING_LEADS, ids)}
        views = [e for e in views if e["lead_id"] in leads]
        await conn.execute(SCORING_ACTIVITIES, *zip(*[(
            e["data"]["activity_id"], e["lead_id"], e["data"]["kind"], e["data"]["url"],
            datetime.fromisoformat(e["data"]["occurred_at"]), e["id"],
            e["data"]["properties"].get("seconds_on_page")) for e in views], strict=True))
        latest, scored = rescore(leads, views)
        await conn.execute(SCORING_UPDATE, [uuid.UUID(i) for i in latest],
                           *([v[n] for v in latest.values()] for n in range(3)), ACTIVITY)
        if scored:
            await conn.execute(SCORE_HISTORY, [e["lead_id"] for e in scored],
                               [e["data"]["score"] for e in scored], FIT,
                               [e["id"] for e in scored])
            await write_events(conn, "scoring", self.tag, scored)
        return len(scored)

    async def engage(self, conn: asyncpg.Connection, new: list[dict[str, Any]],
                     views: list[dict[str, Any]]) -> None:
        """Nurture: an engagement per page view, the lead's state (score) once per batch."""
        if views:
            await conn.execute(ENGAGEMENTS, *zip(*[(
                e["data"]["activity_id"], e["lead_id"], e["data"]["kind"], e["data"]["url"],
                datetime.fromisoformat(e["data"]["occurred_at"])) for e in views], strict=True))
        states: dict[str, int | None] = {}
        for e in new:
            states[e["lead_id"]] = e["data"]["score"] if e["type"] == SCORED else states.get(
                e["lead_id"])
        if states:
            await conn.execute(NURTURE_STATES, [uuid.UUID(i) for i in states],
                               list(states.values()))

    async def timeline(self, conn: asyncpg.Connection, new: list[dict[str, Any]]) -> None:
        """Outcomes: a timeline entry per event, the funnel's score per lead.scored."""
        if not new:
            return
        await conn.execute(TIMELINE, *zip(*[(
            e["id"], e["lead_id"], datetime.fromisoformat(
                e["data"].get("occurred_at") or e["data"]["scored_at"]), e["type"],
            e["data"].get("kind", "scored"), e["data"].get("url") or "score changed",
            orjson.dumps({"url": e["data"].get("url"), "source": e["data"].get("source"),
                          "score": e["data"].get("score")}).decode()) for e in new], strict=True))
        scores = {e["lead_id"]: e["data"]["score"] for e in new if e["type"] == SCORED}
        if scores:
            await conn.execute(FUNNEL_SCORES, [uuid.UUID(i) for i in scores],
                               list(scores.values()))

    async def group_commit(self, conn: asyncpg.Connection) -> None:
        """Capture's writes: the arrays that queued while a commit ran share the next one."""
        while True:
            group = [await self.arrays.get()]
            while not self.arrays.empty():
                group.append(self.arrays.get_nowait())
            rows = [row for array, _ in group for row in array]
            try:
                async with conn.transaction():
                    known = await existing_lead_ids(conn, sorted({
                        r.lead_id for r in rows if r.lead_id is not None}))
                    stored = [r for r in rows if r.lead_id in known]
                    inserted = await insert_activities(conn, stored)
                    keys = dict(await conn.fetch(KEYS_OF, list({str(r.lead_id) for r in stored})))
                    if inserted:  # personal fields sealed under the lead's key, as at commit
                        await write_events(conn, "capture", self.tag, [event(
                            ACTIVITY, str(r.lead_id), seal({
                                "lead_id": str(r.lead_id), "activity_id": str(r.id),
                                "kind": r.kind, "occurred_at": r.occurred_at.isoformat(),
                                "url": r.url, "source": r.source.model_dump(mode="json"),
                                "properties": r.properties}, str(r.lead_id), keys[str(r.lead_id)]))
                            for r in stored if r.id in inserted])
            except Exception as exc:  # every request of the group answers the failure
                for _, done in group:
                    done.set_exception(exc)
                continue
            self.wake.set()
            for _, done in group:
                done.set_result((known, inserted))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Capture's bare ASGI app: POST /v1/activities here, the rest (lifespan) p2_floor's."""
        if scope["type"] != "http" or scope["path"] != "/v1/activities":
            return await super().__call__(scope, receive, send)
        body, message = b"", {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            body += message.get("body", b"")
        if b"x-api-key" not in dict(scope["headers"]):
            return await answer(send, 401, {"detail": "an API key is needed"})
        items = orjson.loads(body)
        if not isinstance(items, list) or not 1 <= len(items) <= 1000:
            return await answer(send, 422, {"detail": "send 1 to 1000 activities"})
        now, rows, errors = datetime.now(UTC), [], []
        for n, item in enumerate(items):
            try:
                parsed = ActivityIn.model_validate(item)
            except ValidationError as exc:
                errors += [{"index": n, "field": ".".join(map(str, e["loc"])),
                            "reason": e["msg"]} for e in exc.errors(include_url=False)]
                continue
            rows.append((n, Activity(parsed.id or uuid.uuid4(), parsed.lead_id,
                                     parsed.visitor_id, parsed.kind, parsed.occurred_at or now,
                                     parsed.url, parsed.source, activity_properties(parsed))))
        done = asyncio.get_running_loop().create_future()
        self.arrays.put_nowait(([r for _, r in rows], done))
        known, _ = await done
        accepted = [{"index": n, "activity_id": str(r.id), "lead_id": str(r.lead_id)}
                    for n, r in rows if r.lead_id in known]
        errors += [{"index": n, "field": f"{n}.lead_id", "reason": "no lead with this id"}
                   for n, r in rows if r.lead_id not in known]
        await answer(send, 202 if not errors else 207 if accepted else 422,
                     {"items": accepted, "errors": errors})


async def answer(send: Any, status: int, body: dict[str, Any]) -> None:
    data = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]})
    await send({"type": "http.response.body", "body": data})


async def measure(dsns: dict[str, str], bootstrap: str, partitions: int,
                  infrastructure: dict[str, Any], workdir: Path, total: int) -> dict[str, Any]:
    """Start the five processes, send `total` page views as P7 does, stop them; activities/s
    until scored and CPU per activity. `dsns`: each service's database; `infrastructure`:
    psutil processes of PostgreSQL and Kafka, by name."""
    tag, port = uuid.uuid4().hex[:8], free_port()
    url = f"http://127.0.0.1:{port}/v1/activities"
    conns = {s: await asyncpg.connect(dsns[s]) for s in SERVICES}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    procs: dict[str, asyncio.subprocess.Process] = {}
    ready = {s: workdir / f"p7floor-{tag}-{s}.ready" for s in SERVICES}
    lead_ids = [uuid.uuid4() for _ in range(p7_activities.LEADS)]
    warm_ids = [uuid.uuid4() for _ in range(WARMUP_LEADS)]
    keys = [new_data_key() for _ in range(len(lead_ids) + len(warm_ids))]
    http = httpx.AsyncClient(timeout=60, headers={"X-API-Key": "floor"})

    async def joined() -> bool:
        if any(p.returncode is not None for p in procs.values()):
            raise RuntimeError("a process of the floor exited")
        return all(marker.exists() for marker in ready.values())

    async def stored() -> int:
        return int(await conns["scoring"].fetchval(
            f"SELECT count(*) FROM {SCHEMA}.lead_activities"))
    try:
        for service in SERVICES:
            for statement in schema_ddl(service):
                await conns[service].execute(statement)
            await seed_leads(conns[service], service, lead_ids + warm_ids, keys)
        await admin.create_topics([NewTopic(topic(tag, p), partitions, 1) for p in PUBLISHERS])
        for service in SERVICES:
            procs[service] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.p7_floor", service, tag, dsns[service], bootstrap,
                str(port), str(ready[service]))
        if not await wait_until(joined, 120):
            raise RuntimeError("the floor's consumers did not join their groups")
        warm = p7_activities.arrays_of([str(i) for i in warm_ids], p7_activities.ARRAY)
        empty = await row_counts(conns)
        await p7_activities.send(http, url, warm)  # connections and statements, not measured
        if not await all_applied(conns, p7_activities.ARRAY, empty):
            raise RuntimeError("the floor did not apply the warm-up's page views")
        arrays = p7_activities.arrays_of([str(i) for i in lead_ids], total)
        await vacuumed(conns["capture"])
        rows_before = await row_counts(conns)
        meter = {**{s: psutil.Process(p.pid) for s, p in procs.items()}, **infrastructure}
        load_at_start = psutil.getloadavg()
        before = {name: process_seconds(p) for name, p in meter.items()}
        started = time.monotonic()
        counts = await p7_activities.send(http, url, arrays)
        sent = time.monotonic()

        async def scored() -> bool:
            return await stored() >= rows_before["scoring"]["lead_activities"] + counts[
                "accepted"]
        drained = await wait_until(scored, 120, interval_s=0.1)
        finished = time.monotonic()
        spent = {name: process_seconds(p) - before[name] for name, p in meter.items()}
        accepted = counts["accepted"]
        services = sum(v for k, v in spent.items() if k in SERVICES)
        infra = sum(v for k, v in spent.items() if k not in SERVICES)
        written = await rows_written(conns, accepted, rows_before)
        return {"activities": total, **counts, "scoring_drained": drained,
                "send_s": sent - started, "drain_s": finished - sent,
                "elapsed_s": finished - started,
                "activities_per_s": accepted / (finished - started),
                "post_rate": accepted / (sent - started),
                "cpu_s": {k: round(v, 3) for k, v in spent.items()},
                "cpu_per_activity": {"services": services / max(1, accepted),
                                     "infrastructure": infra / max(1, accepted)},
                # What the machine's cores would allow at that CPU per activity: on a shared
                # machine the rate above is what the others left it.
                "cpu_bound_activities_per_s": (psutil.cpu_count() or 1) * accepted
                / max(1e-9, services + infra),
                "rows_per_activity": written, "load_average_at_start": load_at_start,
                "load_average_at_end": psutil.getloadavg()}
    finally:
        await http.aclose()
        for process in procs.values():
            process.terminate()
        await asyncio.gather(*(p.wait() for p in procs.values()))
        await admin.delete_topics([topic(tag, p) for p in PUBLISHERS])
        await admin.close()
        for conn in conns.values():
            await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            await conn.close()


async def _on_own_stack() -> dict[str, Any]:
    """PostgreSQL and Kafka of a bench stack of its own; the services run only for their
    migrations."""
    from bench.cpu import CpuMeter
    from bench.harness import stack_settings
    from leadloop_devstack.stack import Stack
    home = Path(tempfile.mkdtemp(prefix="leadloop-p7floor-"))
    stack = Stack(stack_settings(home))
    try:
        await stack.start()
        infrastructure = CpuMeter.of(stack).infrastructure
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in stack.services.values()))
        return await measure({s: stack.settings.database_url_for(s).replace("+asyncpg", "")
                              for s in SERVICES}, stack.bootstrap_servers,
                             stack.settings.topic_partitions, infrastructure, home,
                             50 * p7_activities.ARRAY)
    finally:
        await stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        serve(ActivityStage, *sys.argv[1:])  # a stage's process, as p2_floor runs them
    else:
        print(orjson.dumps(asyncio.run(_on_own_stack()), option=orjson.OPT_INDENT_2).decode())
