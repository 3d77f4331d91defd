"""Bench: capture's POST /v1/leads requests/s against a bare FastAPI endpoint with the same
pydantic model and worker count (one uvicorn process each), measured side by side in one run.

    /tmp/venv/bin/python bench/capture_requests.py [--requests 3000] [--concurrency 32]

Capture runs in the local stack (PostgreSQL, Kafka, outbox); the bare app (bench/
capture_bare_app.py) validates the same LeadIn and stores nothing. Both get the same bounded
load from one client process on this machine, alternating rounds, and the best round of each
counts. Target: capture / bare >= 0.6.
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.stack import Stack

BENCH = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lead() -> dict[str, object]:
    tag = uuid.uuid4().hex[:12]
    return {"email": f"Bench.{tag}@Acme-{tag[:4]}.com", "first_name": " Bench ",
            "job_title": "VP Marketing", "company_size": 200, "country": "de",
            "phone": "030 1234567", "source": {"channel": "form", "utm_source": "bench"}}


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int) -> float:
    """Requests per second for `requests` POSTs from `concurrency` clients."""
    bodies = [_lead() for _ in range(requests)]
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        async def client() -> None:
            for body in queue:
                r = await http.post(url, json=body, headers=headers)
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


async def wait_up(url: str) -> None:
    """Until the bare app answers."""
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(200):
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def _start_bare(port: int) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "capture_bare_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--log-level", "warning"],
        cwd=BENCH, env={**os.environ, "PYTHONPATH": str(BENCH)})


def _stop_bare(process: "subprocess.Popen[bytes]") -> None:
    process.terminate()
    process.wait(timeout=10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-requests-"))
    settings = StackSettings(home=home, postgres_port=_free_port(), kafka_port=_free_port(),
                             kafka_controller_port=_free_port(), services=("capture",),
                             ports={name: _free_port() for name in DEFAULT_PORTS})
    stack = Stack(settings)
    await stack.start()
    port = _free_port()
    bare = _start_bare(port)
    try:
        await wait_up(f"http://127.0.0.1:{port}/docs")
        capture_url = f"{stack.url('capture')}/v1/leads"
        bare_url = f"http://127.0.0.1:{port}/v1/leads"
        headers = {"X-API-Key": stack.admin_key}
        await load(capture_url, headers, 200, args.concurrency)  # warm both up
        await load(bare_url, {}, 200, args.concurrency)
        capture_rates, bare_rates = [], []
        for _ in range(args.rounds):
            bare_rates.append(await load(bare_url, {}, args.requests, args.concurrency))
            capture_rates.append(await load(capture_url, headers, args.requests,
                                            args.concurrency))
    finally:
        _stop_bare(bare)
        await stack.stop()
    best_capture, best_bare = max(capture_rates), max(bare_rates)
    print(f"requests: {args.requests} x {args.rounds} rounds, concurrency {args.concurrency}")
    print(f"bare FastAPI + LeadIn: {', '.join(f'{r:,.0f}' for r in bare_rates)} req/s")
    print(f"capture POST /v1/leads: {', '.join(f'{r:,.0f}' for r in capture_rates)} req/s")
    print(f"ratio capture/bare: {best_capture / best_bare:.3f} (target >= 0.6)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
