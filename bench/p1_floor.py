"""P1's floor: P2's minimal capture process (bench/p2_floor.py) under P1's wrk load, doing
capture's whole durable work for a new lead: a bare ASGI app validating capture's own LeadIn and
group-committing, per transaction, each lead's row, its data key in lead_keys, the key's record
for the keys topic and lead.created sealed under the key (two outbox rows), its relay publishing
them with the stack's CloudEvents headers; so P1's figure can be set against what this machine
allows.

It runs on the stack's PostgreSQL and Kafka (schema p2floor_capture, topics of its own), beside
the bare FastAPI app P1 divides by. Not done (so the floor is, if anything, high): dedupe by
email, idempotency keys, the API key's scope lookup (only its presence is checked), tracing,
metrics and logging.
"""

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import p2_floor
from bench.harness import REPO_ROOT, free_port
from bench.wrk import WrkResult, run_wrk


async def _started(port: int, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError("the floor's capture process exited")
            try:
                await http.post(f"http://127.0.0.1:{port}/healthz")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the floor's capture process did not start")


async def measure(dsn: str, bootstrap: str, partitions: int, workdir: Path, round_s: float,
                  rounds: int, warmup_s: float, front: str = "asgi") -> list[WrkResult]:
    """wrk against the floor's capture, `rounds` times `round_s` after a warm-up; `front`
    "fastapi" serves it behind the smallest FastAPI app (p2_floor.fastapi_front)."""
    tag, port = uuid.uuid4().hex[:8], free_port()
    conn = await asyncpg.connect(dsn)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    process = None
    try:
        for statement in p2_floor.schema_ddl("capture"):
            await conn.execute(statement)
        # Every floor topic, though only capture's is written: the process's consumer subscribes
        # to the ones capture consumes, and would log each second that they are missing.
        await admin.create_topics([NewTopic(p2_floor.topic(tag, p), partitions, 1)
                                   for p in (*p2_floor.PUBLISHERS, p2_floor.KEYS)])
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.p2_floor", "capture", tag, dsn, bootstrap, str(port),
            str(workdir / f"p1floor-{tag}.ready"), front, cwd=REPO_ROOT)
        await _started(port, process)
        url = f"http://127.0.0.1:{port}/v1/leads"
        await run_wrk(url, warmup_s, api_key="floor")
        return [await run_wrk(url, round_s, api_key="floor") for _ in range(rounds)]
    finally:
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()
        await admin.delete_topics([p2_floor.topic(tag, p)
                                   for p in (*p2_floor.PUBLISHERS, p2_floor.KEYS)])
        await admin.close()
        await conn.execute("DROP SCHEMA IF EXISTS p2floor_capture CASCADE")
        await conn.close()


def summary(results: list[WrkResult], bare_rate: float) -> dict[str, Any]:
    """The floor's request rate and its ratio to the bare app's."""
    rate = sum(r.ok for r in results) / sum(r.seconds for r in results)
    return {"requests_per_s": rate, "ratio": rate / bare_rate,
            "errors": sum(r.status_errors + r.socket_errors for r in results)}
