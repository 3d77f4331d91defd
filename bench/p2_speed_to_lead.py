"""P2 speed-to-lead: form POST -> lead.handed_off read by a plain consumer, at 100 leads/s
(after 5 s at 10 leads/s, reported alongside as the latency floor without queueing), then the
same window at 300 leads/s, reported alongside (a campaign burst; not part of the target);
last, the same durable hops done by minimal processes with no framework (bench/p2_floor.py) at
10 and 100 leads/s: what this machine allows at all; and again by the same processes on the
parts the project is fixed on (FastAPI, SQLAlchemy transactions, the contract's pydantic event
models: bench/p2_floor_stack.py): what this machine allows on that stack.

A separate process (bench/loadgen.py) posts qualifying leads on a fixed schedule; the bench
process reads leadloop.handoff. Latency runs from when each POST was due (so a stalled client
cannot hide a slow system) to when its lead.handed_off arrived. A lead not handed off within
the drain timeout counts as infinitely late.
"""

import asyncio
import json
import math
import sys
import time
from typing import Any

from bench import p2_floor
from bench.harness import REPO_ROOT, Bench, percentile, summary, wait_until

RATE = 100.0  # leads per second offered
BURST_RATE = 300.0  # also measured, after RATE
FLOOR_RATE, FLOOR_S = 10.0, 5.0  # first, a light load: the latency floor without queueing
TARGET_P50_MS, TARGET_P99_MS = 50.0, 250.0


async def _offer(bench: Bench, rate: float, seconds: float) -> list[dict[str, Any]]:
    out = bench.workdir / f"p2-sent-{rate:g}.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", bench.url("capture", "/v1/leads"),
        bench.stack.admin_key, "--rate", str(rate), "--seconds", str(seconds),
        "--out", str(out), cwd=REPO_ROOT)
    if await process.wait() != 0:
        raise RuntimeError(f"the load generator exited with {process.returncode}")
    entries: list[dict[str, Any]] = json.loads(out.read_text())
    return entries


def _latencies(bench: Bench, entries: list[dict[str, Any]]) -> list[float]:
    """Due time of each POST to its lead.handed_off arriving, in ms; inf when it never did."""
    received = bench.reader.received
    return [(received[e["lead_id"]] - e["due"]) * 1000
            if e.get("lead_id") in received else math.inf for e in entries]


async def _offer_and_wait(bench: Bench, rate: float, seconds: float) -> list[dict[str, Any]]:
    """Offer the load, then wait until every accepted lead was handed off (or the timeout)."""
    entries = await _offer(bench, rate, seconds)
    accepted = [e for e in entries if e.get("lead_id")]

    async def all_handed_off() -> bool:
        return all(e["lead_id"] in bench.reader.received for e in accepted)
    await wait_until(all_handed_off, bench.durations.drain_timeout_s)
    return entries


async def run(bench: Bench) -> dict[str, Any]:
    """A light load first (the floor), then 100 leads/s for the warm-up plus the measured
    window; the figure is the percentiles of the measured window at 100 leads/s."""
    d = bench.durations
    await bench.ensure_rep_capacity(1)  # one rep, capacity 10,000
    floor = _latencies(bench, await _offer_and_wait(bench, FLOOR_RATE, FLOOR_S))
    await bench.wait_drained(d.drain_timeout_s)
    before = bench.meter.snapshot()
    entries = await _offer_and_wait(bench, RATE, d.p2_warmup_s + d.p2_s)
    accepted = [e for e in entries if e.get("lead_id")]
    drained = await bench.wait_drained(d.drain_timeout_s)
    usage = bench.usage(before)
    state = await bench.pipeline_state()

    warmup = round(RATE * d.p2_warmup_s)
    measured = [e for e in entries if e["n"] >= warmup]
    latencies = _latencies(bench, measured)
    post_ms = [(e["answered"] - e["due"]) * 1000 for e in measured if e.get("lead_id")]
    lateness = [(e["sent"] - e["due"]) * 1000 for e in measured]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    lost = sum(1 for v in latencies if v == math.inf)
    burst = await _burst(bench)
    floor_pipeline = await _floor(bench)
    floor_stack = await _floor(bench, "bench.p2_floor_stack")
    return summary(
        p50, f"p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms",
        p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS,
        p50_ms=p50, p99_ms=p99, max_ms=max(latencies), rate_offered=RATE,
        floor={"rate": FLOOR_RATE, "leads": len(floor), "p50_ms": percentile(floor, 50),
               "p99_ms": percentile(floor, 99)},
        burst=burst, floor_pipeline=floor_pipeline, floor_stack=floor_stack,
        leads_offered=len(entries), leads_measured=len(measured),
        leads_rejected=len(entries) - len(accepted),
        posts_retried=sum(1 for e in entries if e.get("attempts", 1) > 1),
        rejections=sorted({f"{e['status']} {e.get('error', '')}".strip()
                           for e in entries if not e.get("lead_id")})[:5],
        leads_not_handed_off=lost,
        post_p50_ms=percentile(post_ms, 50) if post_ms else None,
        post_p99_ms=percentile(post_ms, 99) if post_ms else None,
        client_lateness_p99_ms=percentile(lateness, 99),
        consumers_drained=drained, pipeline_at_end=state, cpu_s=usage.by_process,
        cpu_per_lead=usage.per_lead(len(accepted)), measured_at=time.time())


async def _burst(bench: Bench) -> dict[str, Any]:
    """The same warm-up and window at BURST_RATE, after the pipeline drained."""
    d = bench.durations
    await bench.wait_drained(d.drain_timeout_s)
    entries = await _offer_and_wait(bench, BURST_RATE, d.p2_warmup_s + d.p2_s)
    measured = [e for e in entries if e["n"] >= round(BURST_RATE * d.p2_warmup_s)]
    latencies = _latencies(bench, measured)
    lateness = [(e["sent"] - e["due"]) * 1000 for e in measured]
    return {"rate": BURST_RATE, "leads": len(measured), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "not_handed_off": sum(1 for v in latencies if v == math.inf),
            "client_lateness_p99_ms": percentile(lateness, 99)}


async def _floor(bench: Bench, module: str = "bench.p2_floor") -> dict[str, Any]:
    """The same durable hops done by minimal processes (`module`: bench/p2_floor.py, or its
    stages on the fixed stack), the stack idle beside them; an error is reported, not raised,
    so P2's own figures are kept."""
    d = bench.durations
    await bench.wait_drained(d.drain_timeout_s)
    try:
        return await p2_floor.measure(bench.dsn("capture"), bench.stack.bootstrap_servers,
                                      bench.stack.settings.topic_partitions,
                                      bench.meter.infrastructure, bench.workdir,
                                      d.p2_warmup_s, d.p2_s, module=module)
    except Exception as exc:
        return {"error": repr(exc)}
