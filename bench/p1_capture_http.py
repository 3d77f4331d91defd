"""P1: capture's POST /v1/leads requests/s ÷ a bare FastAPI endpoint validating the same model.

Both are one uvicorn worker with uvloop and httptools, loaded by the same wrk command (one
thread, 32 connections, a unique email per request) in alternating rounds. Capture does its
real work (dedupe by email, insert, outbox row, commit, relay to Kafka); the other services
are stopped first so their catching up does not compete for the cores: P3 measures the whole
pipeline. Last, P1's floors (bench/p1_floor.py): a minimal capture doing the same durable work
under the same load, as a bare ASGI app and then behind the smallest FastAPI app that serves it
(FastAPI is what the project is built on).
"""

import asyncio
import subprocess
import sys
from typing import Any

import httpx
import psutil

from bench import p1_floor
from bench.harness import REPO_ROOT, Bench, free_port, summary
from bench.wrk import WrkResult, run_wrk

TARGET = 0.4
WARMUP_S = 2.0


def _event_loop_and_parser(pid: int) -> dict[str, bool]:
    """Whether a process has uvloop and httptools loaded (from its memory maps)."""
    paths = {m.path for m in psutil.Process(pid).memory_maps()}
    return {lib: any(f"/{lib}/" in p for p in paths) for lib in ("uvloop", "httptools")}


async def _start_bare(port: int) -> "subprocess.Popen[bytes]":
    process = subprocess.Popen(  # noqa: ASYNC220 (returns at once; the stack does the same)
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
         "--no-access-log", "--log-level", "warning"], cwd=REPO_ROOT)
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            try:
                await http.get(f"http://127.0.0.1:{port}/openapi.json")
                return process
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the bare FastAPI app did not start")


def _pid(bench: Bench, service: str) -> int:
    process = bench.stack.services[service].process
    assert process is not None, f"{service} is not running"
    return process.pid


def _rate(results: list[WrkResult]) -> float:
    return sum(r.ok for r in results) / sum(r.seconds for r in results)


async def run(bench: Bench) -> dict[str, Any]:
    """Alternate bare and capture rounds; the ratio of their mean request rates."""
    d = bench.durations
    await bench.stop_downstream()
    port = free_port()
    bare = await _start_bare(port)
    bench.meter.add("bare", bare.pid)
    capture_url, bare_url = bench.url("capture", "/v1/leads"), f"http://127.0.0.1:{port}/v1/leads"
    key = bench.stack.admin_key
    try:
        await run_wrk(bare_url, WARMUP_S)
        await run_wrk(capture_url, WARMUP_S, api_key=key)
        bare_runs: list[WrkResult] = []
        capture_runs: list[WrkResult] = []
        capture_cpu = infra_cpu = bare_cpu = 0.0
        for _ in range(d.p1_rounds):
            before = bench.meter.snapshot()
            bare_runs.append(await run_wrk(bare_url, d.p1_round_s))
            bare_cpu += bench.usage(before, ("bare",)).service_seconds
            before = bench.meter.snapshot()
            capture_runs.append(await run_wrk(capture_url, d.p1_round_s, api_key=key))
            # Capture's relay may still be publishing: let it finish (and charge it to capture)
            # before the next bare round, which it would otherwise slow down.
            await bench.wait_outboxes_empty(d.drain_timeout_s, ("capture",))
            usage = bench.usage(before, ("capture",))
            capture_cpu += usage.service_seconds
            infra_cpu += usage.infrastructure_seconds
        libraries = {"capture": _event_loop_and_parser(_pid(bench, "capture")),
                     "bare": _event_loop_and_parser(bare.pid)}
    finally:
        bare.terminate()
        bare.wait(10)
        bench.meter.services.pop("bare", None)
    capture_rate, bare_rate = _rate(capture_runs), _rate(bare_runs)
    ratio = capture_rate / bare_rate
    floor, floor_fastapi = [await _floor(bench, bare_rate, front) for front in ("asgi", "fastapi")]
    capture_ok = sum(r.ok for r in capture_runs)
    return summary(
        ratio, f">= {TARGET}", ratio >= TARGET,
        capture_requests_per_s=capture_rate, bare_requests_per_s=bare_rate,
        rounds=[{"bare": r.rate, "capture": c.rate} for r, c in zip(bare_runs, capture_runs,
                                                                     strict=True)],
        capture_errors=sum(r.status_errors + r.socket_errors for r in capture_runs),
        bare_errors=sum(r.status_errors + r.socket_errors for r in bare_runs),
        capture_latency_p50_ms=capture_runs[-1].latency_p50_ms,
        capture_latency_p99_ms=capture_runs[-1].latency_p99_ms,
        bare_latency_p50_ms=bare_runs[-1].latency_p50_ms,
        bare_latency_p99_ms=bare_runs[-1].latency_p99_ms,
        loaded=libraries, wrk="-t1 -c32", round_s=d.p1_round_s,
        cpu_per_lead={"services": capture_cpu / capture_ok if capture_ok else None,
                      "infrastructure": infra_cpu / capture_ok if capture_ok else None},
        bare_cpu_per_request=bare_cpu / max(1, sum(r.ok for r in bare_runs)), floor=floor,
        floor_fastapi=floor_fastapi)


async def _floor(bench: Bench, bare_rate: float, front: str) -> dict[str, Any]:
    """P1's floor (bench/p1_floor.py) served as a bare ASGI app or behind FastAPI."""
    d = bench.durations
    try:
        return p1_floor.summary(await p1_floor.measure(
            bench.dsn("capture"), bench.stack.bootstrap_servers,
            bench.stack.settings.topic_partitions, bench.workdir, d.p1_round_s, d.p1_rounds,
            WARMUP_S, front), bare_rate)
    except Exception as exc:  # the floor must not hide P1's own figures
        return {"error": repr(exc)}
