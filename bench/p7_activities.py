"""P7: page-view activities per second through capture and scoring, all five services running.

A few hundred leads are captured first (and let through the pipeline). Then page views about
them are POSTed to capture's /v1/activities as JSON arrays of 1,000 (each with its own id),
from a few concurrent clients, as a tracking collector would forward them. The clock stops when
every activity is stored, capture's outbox is published, and scoring has consumed and committed
everything (its consumer lag is 0 in Kafka's offsets): each activity recorded and its lead's
engagement score updated. Figure: activities / elapsed seconds. A sample lead's score is read
back to check that engagement moved. Last, once the stack has drained, P7's floor
(bench/p7_floor.py): minimal processes doing the same durable work under the same load.
"""

import asyncio
import time
import uuid
from typing import Any

import httpx

from bench import p7_floor
from bench.harness import Bench, summary, wait_until
from leadloop.events.topology import SERVICES

TARGET = 5_000.0
LEADS = 400
ARRAY = 1_000
CLIENTS = 4
PER_SECOND_OF_WINDOW = 2_500  # activities offered per second of the P3 window (--quick: fewer)


async def _create_leads(bench: Bench, tag: str) -> list[str]:
    """LEADS leads, posted a few at a time; their ids."""
    ids: list[str] = []

    async def post(n: int) -> None:
        r = await bench.http.post(bench.url("capture", "/v1/leads"), json={
            "email": f"p7.{tag}.{n}@activity-bench-{n % 50}.com", "company": "Bench",
            "job_title": "Engineer", "company_size": 50})
        r.raise_for_status()
        ids.append(r.json()["lead_id"])
    for start in range(0, LEADS, 50):
        await asyncio.gather(*(post(n) for n in range(start, min(LEADS, start + 50))))
    return ids


def arrays_of(lead_ids: list[str], total: int) -> list[list[dict[str, Any]]]:
    items = [{"id": str(uuid.uuid4()), "kind": "page_view", "lead_id": lead_ids[n % len(lead_ids)],
              "url": f"https://www.example.com/docs/page-{n % 97}", "seconds_on_page": n % 300}
             for n in range(total)]
    return [items[i:i + ARRAY] for i in range(0, total, ARRAY)]


async def send(http: httpx.AsyncClient, url: str, arrays: list[list[dict[str, Any]]]
               ) -> dict[str, int]:
    """POST the arrays to `url` from CLIENTS concurrent clients; counts of accepted and refused
    items (P7's floor is driven by the same)."""
    counts = {"accepted": 0, "refused": 0, "failed_requests": 0}
    queue = iter(arrays)

    async def client() -> None:
        for array in queue:
            try:
                r = await http.post(url, json=array)
            except httpx.HTTPError:
                counts["failed_requests"] += 1
                continue
            if r.status_code not in (202, 207):
                counts["failed_requests"] += 1
                continue
            body = r.json()
            counts["accepted"] += len(body["items"])
            counts["refused"] += len(body["errors"])
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return counts


async def run(bench: Bench) -> dict[str, Any]:
    """Create the leads, drain, then send the activities and time them until scored."""
    d = bench.durations
    total = max(ARRAY, round(d.p3_s * PER_SECOND_OF_WINDOW / ARRAY) * ARRAY)
    await bench.ensure_rep_capacity(LEADS)
    tag = uuid.uuid4().hex[:8]
    lead_ids = await _create_leads(bench, tag)
    clean_start = await bench.wait_drained(d.drain_timeout_s)
    score_url = bench.url("scoring", f"/v1/leads/{lead_ids[0]}/score")
    engagement_before = (await bench.http.get(score_url)).json().get("engagement_score")
    arrays = arrays_of(lead_ids, total)
    before = bench.meter.snapshot()
    started = time.monotonic()
    counts = await send(bench.http, bench.url("capture", "/v1/activities"), arrays)
    sent = time.monotonic()

    async def scored() -> bool:
        if await bench.outbox_backlog("capture"):
            return False
        return (await bench.consumer_lags()).get("scoring", 1) == 0
    drained = await wait_until(scored, d.drain_timeout_s, interval_s=0.1)
    finished = time.monotonic()
    usage = bench.usage(before)
    engagement_after = (await bench.http.get(score_url)).json().get("engagement_score")
    elapsed = finished - started
    rate = counts["accepted"] / elapsed
    try:  # the stack idle first: its other consumers may still be applying the page views
        await bench.wait_drained(d.drain_timeout_s)
        floor = await p7_floor.measure(
            {s: bench.dsn(s) for s in SERVICES}, bench.stack.bootstrap_servers,
            bench.stack.settings.topic_partitions, bench.meter.infrastructure, bench.workdir,
            total)
    except Exception as exc:  # the floor must not hide P7's own figures
        floor = {"error": repr(exc)}
    return summary(
        rate, f">= {TARGET:,.0f} activities/s",
        rate >= TARGET and drained and counts["accepted"] == total,
        activities=total, accepted=counts["accepted"], refused=counts["refused"],
        failed_requests=counts["failed_requests"], leads=len(lead_ids), array_size=ARRAY,
        clients=CLIENTS, send_s=sent - started, drain_s=finished - sent, elapsed_s=elapsed,
        post_rate=counts["accepted"] / (sent - started), scoring_drained=drained,
        started_drained=clean_start, engagement_before=engagement_before,
        engagement_after=engagement_after, cpu_s=usage.by_process,
        cpu_per_lead=usage.per_lead(counts["accepted"]), floor=floor)  # per activity
