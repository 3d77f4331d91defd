"""Bench: rebuild of outcomes' read model (events/s), and a report's latency during it.

    .venv/bin/python bench/outcomes_rebuild.py [--leads 10000] [--live-rate 50]
    .venv/bin/python bench/outcomes_rebuild.py --outcomes-url http://127.0.0.1:8005 \\
        --bootstrap 127.0.0.1:9092 --dsn postgresql://postgres@127.0.0.1:5432/outcomes \\
        --api-key ...

Without --outcomes-url it starts PostgreSQL, Kafka and the outcomes service alone in a temporary
folder (as the tests do); a given stack should run outcomes alone too, as the other consumers
would act on the generated leads. It produces the history of `--leads` leads to the topics their
producers use (lead.created, two scores, page views, form posts, qualified, two handoffs,
contacted, accepted or rejected, deal opened and closed: about ten events a lead), personal
fields sealed with per-lead keys as capture seals them (the keys stored in outcomes' database, as
its key feed would), and waits until the live consumer has applied them. Then it POSTs
/v1/read-model/rebuild while one client GETs /v1/funnel every 50 ms and another produces new
leads at `--live-rate` events a second, as live traffic would.

It prints the rebuild's events/s (the events it applied over its own wall time), the report
latencies during the rebuild (p50, p99, max), and checks that the funnel after the rebuild
counts every lead, the live ones included (nothing lost). Exit 1 when a target is missed:
rebuild >= 5,000 events/s, every report during it under 1 s.
"""

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx

if __package__ in (None, ""):  # run as a script: the repository's root holds the test fixtures
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer

from bench.cpu import CpuMeter, CpuUsage
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import LeadActivity
from leadloop.events.topology import topic_of
from leadloop.kafka import close_producer, create_producer
from leadloop.pii import new_data_key, seal
from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.stack import Stack
from tests.support.outcomes_stories import Story, generate_stories, story_events

TARGET_EVENTS_PER_S = 5_000
TARGET_REPORT_S = 1.0
PAGE_VIEWS = 3  # a lead's page views besides the stories' own: outcomes reads and skips them
# Which service publishes each event type, so each goes to the topic it travels on live.
PRODUCER = {"leadloop.lead.created.v1": "capture", "leadloop.lead.updated.v1": "capture",
            "leadloop.lead.activity.v1": "capture", "leadloop.lead.scored.v1": "scoring",
            "leadloop.lead.qualified.v1": "scoring", "leadloop.lead.handed_off.v1": "handoff",
            "leadloop.lead.accepted.v1": "handoff", "leadloop.lead.rejected.v1": "handoff",
            "leadloop.lead.contacted.v1": "handoff", "leadloop.deal.opened.v1": "outcomes",
            "leadloop.deal.closed.v1": "outcomes"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _stories(count: int, seed: int) -> list[Story]:
    """`count` leads' stories under fresh ids (so a given stack can take several runs)."""
    stories = generate_stories(count, seed=seed)
    for story in stories:
        story.lead_id = uuid.uuid4()
    return stories


def _events(story: Story) -> list[EventData]:
    events = story_events(story)
    views = [LeadActivity(lead_id=story.lead_id, activity_id=uuid.uuid4(), kind="page_view",
                          url=f"https://acme.example/pricing?lead={n}",
                          occurred_at=story.created_at)
             for n in range(PAGE_VIEWS)]
    return [events[0], *views, *events[1:]]


class History:
    """Writes stories to Kafka as their producers would: sealed, on each producer's topic."""

    def __init__(self, producer: AIOKafkaProducer, keys: asyncpg.Connection) -> None:
        self._producer = producer
        self._keys = keys
        self.events = 0

    async def write(self, stories: Sequence[Story]) -> None:
        """Store the stories' keys in outcomes' database, then produce their events."""
        keys = {str(s.lead_id): new_data_key() for s in stories}
        await self._keys.copy_records_to_table("lead_keys", records=list(keys.items()),
                                               columns=["lead_id", "data_key"])
        sent = []
        for story in stories:
            lead = str(story.lead_id)
            for event in _events(story):
                event_type = event_type_of(event)
                envelope = CloudEvent(type=event_type, source=PRODUCER[event_type],
                                      subject=lead,
                                      data=seal(event.model_dump(mode="json"), lead, keys[lead]))
                key, value, headers = envelope.to_kafka()
                sent.append(await self._producer.send(topic_of(PRODUCER[event_type]),
                                                      value=value, key=key, headers=headers))
        await asyncio.gather(*sent)
        self.events += len(sent)


async def _lead_count(http: httpx.AsyncClient, url: str) -> int:
    response = await http.get(f"{url}/v1/funnel")
    response.raise_for_status()
    return int(response.json()["stages"][0]["count"])


async def _wait_for_leads(http: httpx.AsyncClient, url: str, leads: int, timeout_s: float
                          ) -> float:
    """Until the funnel counts `leads` leads; how long that took."""
    started = time.monotonic()
    while (count := await _lead_count(http, url)) < leads:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"the funnel counts {count} of {leads} leads")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def measure(url: str, bootstrap: str, dsn: str, api_key: str, leads: int,
                  live_rate: float, meter: CpuMeter | None = None, seed: int = 2026
                  ) -> dict[str, Any]:
    """Produce the history, let the live consumer apply it, rebuild while reading reports and
    producing live leads; the figures and whether the targets hold. With `meter`, also the CPU
    the stack's processes spent on the rebuild."""
    keys = await asyncpg.connect(dsn)
    producer = create_producer(bootstrap, "bench-outcomes-rebuild", linger_ms=5)
    await producer.start()
    async with httpx.AsyncClient(timeout=60, headers={"X-API-Key": api_key}) as http:
        try:
            history = History(producer, keys)
            before = await _lead_count(http, url)
            started = time.monotonic()
            stories = _stories(leads, seed)
            for start in range(0, leads, 1_000):
                await history.write(stories[start:start + 1_000])
            produced_s = time.monotonic() - started
            print(f"produced {history.events:,} events of {leads:,} leads in {produced_s:.1f} s",
                  flush=True)
            applied_s = await _wait_for_leads(http, url, before + leads, timeout_s=900)
            print(f"the live consumer applied them {applied_s:.1f} s later", flush=True)
            history_events = history.events

            live_stories = _stories(max(1, int(live_rate * 120 / 12)), seed + 1)
            rebuild = asyncio.create_task(http.post(f"{url}/v1/read-model/rebuild",
                                                    timeout=1_800))
            latencies: list[float] = []

            async def read_reports() -> None:
                while not rebuild.done():
                    sent = time.perf_counter()
                    await _lead_count(http, url)
                    latencies.append(time.perf_counter() - sent)
                    await asyncio.sleep(0.05)

            async def live_traffic() -> int:
                written = 0
                per_lead = len(_events(live_stories[0]))
                for story in live_stories:
                    if rebuild.done():
                        break
                    await history.write([story])
                    written += 1
                    await asyncio.sleep(per_lead / live_rate if live_rate > 0 else 3600)
                return written

            load_before = os.getloadavg()
            cpu_before = meter.snapshot() if meter else {}
            reader = asyncio.create_task(read_reports())
            live = asyncio.create_task(live_traffic())
            response = await rebuild
            usage = CpuUsage.between(meter, cpu_before, meter.snapshot()) if meter else None
            response.raise_for_status()
            result = response.json()
            live_leads = await live
            await reader
            load_after = os.getloadavg()
            total = before + leads + live_leads
            await _wait_for_leads(http, url, total, timeout_s=120)
            after = await _lead_count(http, url)
        finally:
            await close_producer(producer)
            await keys.close()

    rate = result["events"] / result["seconds"]
    worst = max(latencies) if latencies else float("nan")
    met_rate, met_latency = rate >= TARGET_EVENTS_PER_S, bool(latencies) and worst < TARGET_REPORT_S
    print(f"rebuild: {result['events']:,} events ({history_events:,} history) in "
          f"{result['seconds']:.2f} s = {rate:,.0f} events/s (target >= {TARGET_EVENTS_PER_S:,})"
          f"; {result['leads']:,} leads", flush=True)
    if latencies:
        print(f"GET /v1/funnel during the rebuild: {len(latencies)} requests, p50 "
              f"{_percentile(latencies, 50) * 1000:.0f} ms, p99 "
              f"{_percentile(latencies, 99) * 1000:.0f} ms, max {worst * 1000:.0f} ms "
              f"(target < {TARGET_REPORT_S * 1000:.0f} ms)", flush=True)
    cpu_per_event = None
    if usage is not None:
        # Everything the stack's processes spent while the rebuild ran (the live traffic and the
        # report requests included): what the machine's cores would allow when nothing else
        # competes for them, a figure less at the mercy of a busy machine than wall time.
        cpu_per_event = sum(usage.by_process.values()) / result["events"]
        print(f"CPU during the rebuild: {usage.by_process} s = "
              f"{cpu_per_event * 1e6:.0f} us an event, i.e. "
              f"{(os.cpu_count() or 1) / cpu_per_event:,.0f} events/s on {os.cpu_count()} "
              "idle cores", flush=True)
    print(f"live leads produced during the rebuild: {live_leads}; the funnel counts {after:,} "
          f"of {total:,} leads after it; load average {[round(x, 2) for x in load_before]} "
          f"before, {[round(x, 2) for x in load_after]} after, on {os.cpu_count()} CPUs",
          flush=True)
    met = met_rate and met_latency and after == total
    print(f"{'PASS' if met else 'FAIL'}", flush=True)
    return {"events_per_s": round(rate), "events": result["events"],
            "seconds": result["seconds"], "report_p50_s": _percentile(latencies, 50)
            if latencies else None, "report_max_s": worst, "reports": len(latencies),
            "live_leads": live_leads, "nothing_lost": after == total,
            "cpu_per_event_s": cpu_per_event, "met": met}


async def on_own_stack(leads: int, live_rate: float) -> dict[str, Any]:
    """`measure` on a stack of its own: PostgreSQL, Kafka and the outcomes service alone."""
    with tempfile.TemporaryDirectory(prefix="outcomes-rebuild-bench-") as home:
        settings = StackSettings(
            home=Path(home), postgres_port=_free_port(), kafka_port=_free_port(),
            kafka_controller_port=_free_port(), smtp_port=0,
            ports={name: _free_port() for name in DEFAULT_PORTS}, services=("outcomes",))
        stack = Stack(settings)
        try:
            await stack.start()
            print(f"stack ready in {stack.timings['ready_s']:.1f}s", flush=True)
            dsn = settings.database_url_for("outcomes").replace("+asyncpg", "", 1)
            return await measure(stack.url("outcomes"), stack.bootstrap_servers, dsn,
                                 stack.admin_key, leads, live_rate, CpuMeter.of(stack))
        finally:
            await stack.stop()


async def run(leads: int, live_rate: float = 50.0) -> dict[str, Any]:
    """`make bench`'s P8 row: the rebuild on its own stack (the other rows' stack runs all five
    services, whose consumers would act on the generated history), in the table's shape."""
    r = await on_own_stack(leads, live_rate)
    return {"figure": r["events_per_s"],
            "target": f">= {TARGET_EVENTS_PER_S:,} events/s, reports < "
                      f"{TARGET_REPORT_S * 1000:,.0f} ms",
            "met": r["met"], **r}


def main() -> int:
    """Run the bench and print its figures; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--live-rate", type=float, default=50.0,
                        help="live events a second produced during the rebuild")
    parser.add_argument("--outcomes-url", help="a running outcomes service (else one is started)")
    parser.add_argument("--bootstrap", help="its Kafka")
    parser.add_argument("--dsn", help="its database, e.g. postgresql://postgres@host/outcomes")
    parser.add_argument("--api-key", help="an admin key of the service")
    args = parser.parse_args()
    print(f"load average at start {[round(x, 2) for x in os.getloadavg()]}", flush=True)
    if args.outcomes_url:
        if not (args.bootstrap and args.dsn and args.api_key):
            parser.error("--outcomes-url needs --bootstrap, --dsn and --api-key")
        result = asyncio.run(measure(args.outcomes_url, args.bootstrap, args.dsn, args.api_key,
                                     args.leads, args.live_rate))
    else:
        result = asyncio.run(on_own_stack(args.leads, args.live_rate))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
