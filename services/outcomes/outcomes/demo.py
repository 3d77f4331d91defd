"""`leadloop demo`: drive the running stack through its public HTTP APIs with a month of leads.

Leads are posted in chunks; each chunk's qualified leads are picked up by the reps at once (well
within the accept deadline). Fast reps contact their leads straight away; slow reps contact
theirs in a second wave after `later_minutes`; one rep never calls. Deals are opened, won and
lost through POST /v1/deals. Capture and handoff stamp times themselves, so the month is
compressed into the run: the response-time buckets come from real waiting.
"""

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from outcomes.demo_plan import REPS, PlannedLead, RepProfile, decide_sales, plan_leads

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """Where the stack is and how big the demo is."""

    urls: dict[str, str]
    api_key: str
    leads: int = 10_000
    later_minutes: float = 6.0
    seed: int = 2026
    chunk: int = 500
    concurrency: int = 16


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = time.monotonic()

    def advance(self, n: int = 1) -> None:
        """Count `n` more done."""
        self.done += n
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        sys.stderr.write(f"\r{self.label:<24} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done:>6}/{self.total} {time.monotonic() - self.started:6.1f}s")
        sys.stderr.flush()

    def close(self) -> None:
        """End the bar's line."""
        sys.stderr.write("\n")


class Stack:
    """The stack's public APIs, with retries on overload and connection errors."""

    def __init__(self, config: DemoConfig, http: httpx.AsyncClient) -> None:
        self.urls = config.urls
        self.http = http
        self.headers = {"X-API-Key": config.api_key}

    async def call(self, method: str, service: str, path: str,
                   json: Any = None, ok: Iterable[int] = (200, 201, 202)) -> httpx.Response:
        """One request; retried on 429, 5xx and broken connections."""
        for attempt in range(8):
            try:
                r = await self.http.request(method, f"{self.urls[service]}{path}",
                                            headers=self.headers, json=json)
                if r.status_code not in (429, 500, 502, 503, 504):
                    break
            except httpx.TransportError:
                if attempt == 7:
                    raise
            await asyncio.sleep(0.2 * 2 ** attempt)
        if r.status_code not in set(ok):
            raise RuntimeError(f"{method} {service}{path}: {r.status_code} {r.text[:300]}")
        return r


async def _each(items: list[T], work: Callable[[T], Awaitable[None]], limit: int,
                progress: Progress | None = None) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> None:
        async with gate:
            await work(item)
        if progress:
            progress.advance()
    await asyncio.gather(*(one(i) for i in items))


async def ensure_reps(stack: Stack) -> dict[str, RepProfile]:
    """The demo's reps (created once), by id."""
    existing = (await stack.call("GET", "handoff", "/v1/reps")).json()["reps"]
    by_email = {r["email"]: r["id"] for r in existing}
    for rep in REPS:
        if rep.email not in by_email:
            r = await stack.call("POST", "handoff", "/v1/reps", {
                "name": rep.name, "email": rep.email, "capacity": 10_000})
            by_email[rep.email] = r.json()["id"]
    return {by_email[rep.email]: rep for rep in REPS}


async def _post_lead(stack: Stack, lead: PlannedLead) -> None:
    r = await stack.call("POST", "capture", "/v1/leads", lead.body)
    lead.lead_id = str(r.json()["lead_id"])
    for touch in lead.touches:
        await stack.call("POST", "capture", "/v1/activities", {**touch, "lead_id": lead.lead_id})


async def _find_assignments(stack: Stack, leads: list[PlannedLead], reps: dict[str, RepProfile],
                            concurrency: int, patience_s: float = 30) -> list[PlannedLead]:
    """The leads handoff assigned to a rep, polled until none is missing or patience ends."""
    pending = [lead for lead in leads if lead.kind in ("hot", "warm")]
    found: list[PlannedLead] = []
    deadline = time.monotonic() + patience_s

    async def look(lead: PlannedLead) -> None:
        r = await stack.call("GET", "handoff", f"/v1/leads/{lead.lead_id}/assignment",
                             ok=(200, 404))
        if r.status_code == 200 and r.json().get("rep"):
            lead.assignment_id = r.json()["id"]
            rep = reps.get(r.json()["rep"]["id"])
            lead.rep_speed = rep.speed if rep else "now"
            found.append(lead)
    while pending and time.monotonic() < deadline:
        await _each(pending, look, concurrency)
        pending = [lead for lead in pending if lead.assignment_id is None]
        if pending:
            await asyncio.sleep(1)
    return found


async def _work_lead(stack: Stack, lead: PlannedLead, rng: random.Random,
                     contact_now: bool) -> None:
    base = f"/v1/assignments/{lead.assignment_id}"
    if lead.decision is None:  # first look at the lead: accept or reject it
        lead.decision = decide_sales(lead, rng)
        if lead.decision.reject_reason:
            await stack.call("POST", "handoff", f"{base}/reject",
                             {"reason_code": lead.decision.reject_reason}, ok=(200, 409))
            return
        await stack.call("POST", "handoff", f"{base}/accept", ok=(200, 409))
    decision = lead.decision
    if not contact_now or decision.reject_reason:
        return
    await stack.call("POST", "handoff", f"{base}/contacted", {"channel": "phone"}, ok=(200, 409))
    if not decision.opens_deal:
        return
    deal = {"external_id": f"demo-{lead.lead_id}", "lead_id": lead.lead_id,
            "amount_minor": decision.amount_minor, "currency": "EUR"}
    await stack.call("POST", "outcomes", "/v1/deals", {**deal, "status": "open"})
    if decision.outcome:
        closing = {**deal, "status": decision.outcome}
        if decision.lost_reason:
            closing["lost_reason"] = decision.lost_reason
        await stack.call("POST", "outcomes", "/v1/deals", closing)


async def run_demo(config: DemoConfig) -> dict[str, Any]:
    """Run the demo; returns what it did."""
    started = time.monotonic()
    leads = plan_leads(config.leads, config.seed)
    rng = random.Random(config.seed + 1)
    later: list[PlannedLead] = []
    worked = 0
    limits = httpx.Limits(max_connections=config.concurrency * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        stack = Stack(config, http)
        reps = await ensure_reps(stack)
        posting = Progress("leads captured, worked", len(leads))
        for start in range(0, len(leads), config.chunk):
            chunk = leads[start:start + config.chunk]
            await _each(chunk, lambda lead: _post_lead(stack, lead), config.concurrency, posting)
            assigned = await _find_assignments(stack, chunk, reps, config.concurrency)
            now = [lead for lead in assigned if lead.rep_speed == "now"]
            later += [lead for lead in assigned if lead.rep_speed != "now"]
            await _each(now, lambda lead: _work_lead(stack, lead, rng, True),
                        config.concurrency)
            await _each([lead for lead in assigned if lead.rep_speed != "now"],
                        lambda lead: _work_lead(stack, lead, rng, False), config.concurrency)
            worked += len(assigned)
        posting.close()
        wait_s = config.later_minutes * 60 - (time.monotonic() - started)
        if wait_s > 0 and later:
            sys.stderr.write(f"slow reps call back in {wait_s / 60:.1f} min ...\n")
            await asyncio.sleep(wait_s)
        slow = [lead for lead in later if lead.rep_speed == "later"]
        calls = Progress("slow reps' calls", len(slow))
        await _each(slow, lambda lead: _work_lead(stack, lead, rng, True), config.concurrency,
                    calls)
        calls.close()
    return {"leads": len(leads), "handed_off": worked, "seconds": time.monotonic() - started}
