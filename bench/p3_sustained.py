"""P3 sustained throughput: leads/s through all five services, every stage durable.

wrk posts qualifying leads to capture as fast as capture accepts them for a fixed window. The
clock stops when every accepted lead's lead.handed_off has been read off Kafka AND scoring,
handoff, nurture and outcomes have committed everything (consumer lag 0 in Kafka's offsets):
sustained leads/s = handed-off leads / (window + drain). Every stage commits to PostgreSQL
(synchronous_commit on) before its event is published or its offset committed.
Last, P3's floor (bench/p3_floor.py): the same durable work per lead done by five minimal
processes, driven the same way; and again by those processes on the parts the project is fixed
on (FastAPI, SQLAlchemy transactions, the contract's event models: bench/p3_floor_stack.py).
"""

import time
import uuid
from typing import Any

from bench import p3_floor
from bench.harness import Bench, summary, wait_until
from bench.wrk import run_wrk

TARGET = 500.0  # leads/s, with at most TARGET_CPU_S of CPU per lead in all (the goal: 1,000)
TARGET_CPU_S = 0.004
CONNECTIONS = 32
MOST_LEADS_PER_S = 3_000  # rep capacity is provisioned for this rate


async def run(bench: Bench, floor: bool = True) -> dict[str, Any]:
    """Offer load for the window, then wait for the pipeline to drain; then the floor's run
    (unless `floor` is false)."""
    d = bench.durations
    await bench.ensure_rep_capacity(round((d.p2_warmup_s + d.p2_s) * 100
                                          + d.p3_s * MOST_LEADS_PER_S))
    clean_start = await bench.wait_drained(d.drain_timeout_s)
    state_at_start = await bench.pipeline_state()
    tag = uuid.uuid4().hex[:10]
    counting = await bench.reset_statement_counts()
    before = bench.meter.snapshot()
    started = time.monotonic()
    result = await run_wrk(bench.url("capture", "/v1/leads"), d.p3_s, connections=CONNECTIONS,
                           api_key=bench.stack.admin_key, tag=tag)
    window_end = time.monotonic()
    lag_at_window_end = await bench.consumer_lags()
    # Capture's table, not wrk's count: requests in flight when wrk stopped were stored too.
    leads = await bench.lead_ids(f"lead.{tag}.%")
    in_window = sum(1 for lead in leads
                    if bench.reader.received.get(lead, window_end + 1) <= window_end)

    def handed_off() -> int:
        return sum(1 for lead in leads if lead in bench.reader.received)

    async def all_handed_off() -> bool:
        return handed_off() >= len(leads)
    all_done = await wait_until(all_handed_off, d.drain_timeout_s)
    drained = await bench.wait_drained(d.drain_timeout_s if all_done else 1)
    finished = time.monotonic()
    usage = bench.usage(before)
    state = await bench.pipeline_state()
    completed = handed_off()
    statements = await bench.statement_counts() if counting else {}
    elapsed = finished - started
    rate = completed / elapsed
    floor_result: dict[str, Any] = {}
    stack_result: dict[str, Any] = {}
    if floor:
        floor_result = await _floor(bench)
        stack_result = await _floor(bench, "fastapi", "bench.p3_floor_stack")
    return summary(
        rate, f">= {TARGET:,.0f} leads/s at <= {TARGET_CPU_S * 1000:g} ms CPU/lead",
        rate >= TARGET and all_done and drained
        and completed > 0
        and (usage.service_seconds + usage.infrastructure_seconds) / completed <= TARGET_CPU_S,
        leads_per_s=rate, leads_accepted=len(leads), leads_handed_off=completed,
        capture_requests_per_s=result.rate, wrk_requests_ok=result.ok,
        http_errors=result.status_errors, socket_errors=result.socket_errors,
        window_s=window_end - started, drain_s=finished - window_end,
        handed_off_in_window=in_window, lag_at_window_end=lag_at_window_end,
        started_drained=clean_start, pipeline_at_start=state_at_start,
        consumers_drained=drained, pipeline_at_end=state,
        post_p50_ms=result.latency_p50_ms, post_p99_ms=result.latency_p99_ms,
        cpu_s=usage.by_process, cpu_per_lead=usage.per_lead(completed),
        statements_per_lead={service: round(count / completed, 1)
                             for service, count in statements.items()} if completed else {},
        floor=floor_result, floor_stack=stack_result)


async def _floor(bench: Bench, front: str = "asgi", module: str = "bench.p3_floor"
                 ) -> dict[str, Any]:
    """A floor's run (`module` with capture behind `front`) on P3's stack; an error is
    reported, not raised: the floor must not hide P3's own figures."""
    try:
        return await p3_floor.on_bench(bench, front, module)
    except Exception as exc:
        return {"error": repr(exc)}
