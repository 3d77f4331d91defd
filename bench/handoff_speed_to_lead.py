"""Bench: lead.created -> lead.handed_off latency (p50/p99) on the local stack.

    /tmp/venv/bin/python bench/handoff_speed_to_lead.py [--leads 300] [--rate 20]

Starts capture, scoring and handoff with PostgreSQL and Kafka in a temporary folder (as the
tests do), adds a rep, posts qualified leads over HTTP at `--rate` per second, and reads
leadloop.capture and leadloop.handoff like a sales tool. For each lead it reports
handed_off_at - created_at (both stamped by the services, same clock), and the wall time from
the POST to the sales tool reading lead.handed_off off Kafka.
"""

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from leadloop.events import CloudEvent
from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.stack import Stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lead(n: int) -> dict[str, object]:
    tag = uuid.uuid4().hex[:10]
    return {"email": f"bench{n}.{tag}@acme-{tag}.com", "first_name": "Bench",
            "job_title": "VP Marketing", "company_size": 200, "country": "DE",
            "phone": "+49 30 1234567", "source": {"channel": "form", "utm_campaign": "bench"}}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def _measure(stack: Stack, leads: int, rate: float, warmup: int) -> None:
    headers = {"X-API-Key": stack.admin_key}
    consumer = AIOKafkaConsumer("leadloop.capture", "leadloop.handoff",
                                bootstrap_servers=stack.bootstrap_servers, group_id=None,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    created: dict[str, datetime] = {}
    handed: dict[str, tuple[datetime, float, datetime]] = {}
    posted_at: dict[str, float] = {}

    async def read() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                seen = time.monotonic()
                for record in records:
                    event = CloudEvent.from_kafka(record.value, record.headers)
                    if event.type == "leadloop.lead.created.v1":
                        created[event.subject] = datetime.fromisoformat(event.data["created_at"])
                    elif event.type == "leadloop.lead.handed_off.v1":
                        handed.setdefault(event.subject, (
                            datetime.fromisoformat(event.data["handed_off_at"]), seen,
                            datetime.fromisoformat(event.data["qualified_at"])))

    reader = asyncio.create_task(read())
    await asyncio.sleep(1)  # let the reader's partitions be assigned at "latest"
    async with httpx.AsyncClient(timeout=30) as http:
        rep = await http.post(f"{stack.url('handoff')}/v1/reps", headers=headers, json={
            "name": "Bench Rep", "email": f"bench.{uuid.uuid4().hex[:8]}@sales.example",
            "capacity": 10_000})
        rep.raise_for_status()

        async def post(n: int) -> str:
            sent = time.monotonic()
            response = await http.post(f"{stack.url('capture')}/v1/leads", json=_lead(n),
                                       headers=headers)
            response.raise_for_status()
            lead_id = str(response.json()["lead_id"])
            posted_at[lead_id] = sent
            return lead_id

        warm = await asyncio.gather(*(post(n) for n in range(warmup)))
        load_before = os.getloadavg()
        tasks = []
        for n in range(leads):
            tasks.append(asyncio.create_task(post(warmup + n)))
            await asyncio.sleep(1 / rate)
        measured = list(await asyncio.gather(*tasks))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(  # noqa: ASYNC110 (polls a reader's dicts)
            lead in handed and lead in created for lead in [*warm, *measured]):
        await asyncio.sleep(0.2)
    load_after = os.getloadavg()
    reader.cancel()
    await consumer.stop()

    done = [lead for lead in measured if lead in handed and lead in created]
    service = [(handed[lead][0] - created[lead]).total_seconds() * 1000 for lead in done]
    wall = [(handed[lead][1] - posted_at[lead]) * 1000 for lead in done]
    own = [(handed[lead][0] - handed[lead][2]).total_seconds() * 1000 for lead in done]
    print(f"{len(done)}/{len(measured)} leads handed off ({warmup} warm-up leads not counted), "
          f"{rate:g} leads/s posted; load average (1/5/15 min) "
          f"{' '.join(f'{v:.2f}' for v in load_before)} before, "
          f"{' '.join(f'{v:.2f}' for v in load_after)} after, on {os.cpu_count()} CPUs")
    for name, values in (("created_at -> handed_off_at (service clocks)", service),
                         ("qualified_at -> handed_off_at (handoff's share)", own),
                         ("POST -> sales tool reads lead.handed_off (wall)", wall)):
        if values:
            print(f"  {name}: p50 {_percentile(values, 50):.0f} ms, "
                  f"p99 {_percentile(values, 99):.0f} ms, max {max(values):.0f} ms, "
                  f"mean {statistics.fmean(values):.0f} ms")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="leads posted per second")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadloop-bench-") as home:
        settings = StackSettings(
            home=Path(home), postgres_port=_free_port(), kafka_port=_free_port(),
            kafka_controller_port=_free_port(), smtp_port=0,
            ports={name: _free_port() for name in DEFAULT_PORTS},
            services=("capture", "scoring", "handoff"))
        stack = Stack(settings)
        try:
            await stack.start()
            print(f"stack ready in {stack.timings['ready_s']:.1f}s")
            await _measure(stack, args.leads, args.rate, args.warmup)
        finally:
            await stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
