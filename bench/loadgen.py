"""P2's load generator, run as its own process: POSTs qualifying leads at a fixed rate (open
loop: a slow answer never delays the next lead) and writes when each was sent, as JSON.

    python -m bench.loadgen URL API_KEY --rate 100 --seconds 20 --out sent.json

Times are time.monotonic(), which is the same clock in every process of this machine.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from urllib.parse import urlsplit

import orjson

from bench.lean_http import LeanClient

# A server slower than the offered rate must delay the next send (recorded as lateness), not
# drown the generator in waiting requests.
MAX_IN_FLIGHT = 150


def qualifying_lead(tag: str, n: int) -> dict[str, object]:
    """A web-form lead the default scoring model qualifies (business email, VP, 200 people)."""
    return {"email": f"Lead.{tag}.{n}@Acme-{n % 997}.com", "first_name": " Bench ",
            "last_name": "Lead", "company": f"Acme {n % 997}", "job_title": "VP Marketing",
            "company_size": 200, "country": "de", "phone": "030 1234567",
            "source": {"channel": "form", "utm_source": "bench"}}


async def offer(url: str, api_key: str, rate: float, seconds: float,
                stop_at_end: bool = False) -> list[dict[str, object]]:
    """Post rate * seconds leads, lead i at start + i / rate; one entry per lead sent. With
    `stop_at_end`, leads still unsent when the `seconds` are up are not sent at all (a soak
    offers load for a fixed time); otherwise late leads go out late."""
    tag = uuid.uuid4().hex[:10]
    total = round(rate * seconds)
    results: list[dict[str, object]] = []
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    parts = urlsplit(url)
    http = LeanClient(f"{parts.scheme}://{parts.netloc}", {"X-API-Key": api_key})
    try:
        await http.request("GET", parts.path.rsplit("/v1/", 1)[0] + "/healthz")  # a connection

        async def post(n: int, due: float) -> None:
            try:
                results.append(await send(n, due))
            finally:
                in_flight.release()

        async def send(n: int, due: float) -> dict[str, object]:
            sent = time.monotonic()
            entry: dict[str, object] = {"n": n, "due": due, "sent": sent}
            try:
                status, body, entry["attempts"] = await http.request(
                    "POST", parts.path, orjson.dumps(qualifying_lead(tag, n)))
            except OSError as exc:  # the connection failed (the client replaces a stale one)
                entry["status"], entry["error"] = 0, repr(exc)
            else:
                entry["status"] = status
                if status in (200, 201):  # a retry of a stored lead answers 200
                    entry["lead_id"] = orjson.loads(body)["lead_id"]
            entry["answered"] = time.monotonic()
            return entry

        start = time.monotonic() + 0.05
        tasks = []
        for n in range(total):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await in_flight.acquire()  # past the cap, lead n is sent late, and `sent` says so
            if stop_at_end and time.monotonic() > start + seconds:
                in_flight.release()
                break
            tasks.append(asyncio.create_task(post(n, due)))
        await asyncio.gather(*tasks)
    finally:
        await http.close()
    return sorted(results, key=lambda e: int(e["n"]))  # type: ignore[call-overload]


def main() -> int:
    """Parse arguments, offer the load, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("api_key")
    parser.add_argument("--rate", type=float, default=100.0, help="leads per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop-at-end", action="store_true",
                        help="send nothing after the seconds are up (leads not sent are dropped)")
    args = parser.parse_args()
    results = asyncio.run(offer(args.url, args.api_key, args.rate, args.seconds,
                              args.stop_at_end))
    with open(args.out, "w") as out:
        json.dump(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
