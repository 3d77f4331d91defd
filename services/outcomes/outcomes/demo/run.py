"""`leadloop demo`: drive the running stack through its public HTTP APIs with a month of leads.

What is real and what is compressed. Capture, handoff and outcomes stamp the time of every lead,
handoff, acceptance and call themselves (their public APIs take no backdated times), so a month
cannot be replayed into them; the demo plays it in `minutes` of real time instead:

- the lead stream is spread evenly over the first `stream_share` of the run (or goes as fast as
  the stack takes it), so leads keep arriving while reps work;
- every rep accepts or rejects a new lead at once (within handoff's accept deadline), but first
  *calls* it after their own delay: Ann within 5 minutes, Bob 6-25, Cleo 31-55 minutes, Dan
  1-6 hours, Eve never. With `fit_reps` (what `leadloop demo` does) every delay shrinks by one
  factor so that even Dan's calls come within the run's first half (`DemoClock`); without it
  they take real time and calls due after the run ends are not made;
- a deal opens on the call and closes (won or lost) half a day to three "days" later, where a
  day is the run's length over DEMO_DAYS (10 s of a 5-minute run, 80 s of a 40-minute one);
- some won customers buy again (`decide_repeat`): a new deal opens and is won 2-10 days after
  the first, so the repeat-customer report, card and digest have figures (their days are the
  run's real, compressed days). Whatever falls after the run's end is not done.

The day / week / month breakdowns therefore show the run's leads in the day they were posted.
"""

import asyncio
import heapq
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from outcomes.demo.plan import (
    REPS,
    DemoClock,
    PlannedLead,
    RepProfile,
    decide_repeat,
    decide_sales,
    plan_leads,
    speed_of,
)

Action = Literal["call", "close", "repeat"]
DEFAULT_MINUTES = 40.0


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """Where the stack is, how big the demo is and how long it may take."""

    urls: dict[str, str]
    api_key: str
    leads: int = 10_000
    minutes: float = DEFAULT_MINUTES  # the run's length at most, in real minutes
    stream_share: float = 1 / 3  # of the run, over which the leads arrive
    seed: int = 2026
    concurrency: int = 16
    # Shrink the reps' first-call delays to fit the run (DemoClock); False: real delays.
    fit_reps: bool = False
    # Rep email -> first-call delay range in real seconds (None: never calls), replacing that
    # rep's own and never shrunk; lets a test show two response buckets in a few minutes.
    answer_delays: Mapping[str, tuple[float, float] | None] = field(default_factory=dict)
    # From the call to a deal's close in real seconds; None: DemoClock's demo days.
    close_after_s: tuple[float, float] | None = None
    assignment_patience_s: float = 120  # a warm lead not handed off by then never will be


class Status:
    """A one-line progress bar on stderr: leads posted, plus what the reps have done."""

    def __init__(self, total: int, minutes: float) -> None:
        self.total, self.minutes = total, minutes
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self._shown = 0.0
        # Ten redraws a second on a terminal; into a log file, a line every ten seconds.
        self._every_s = 0.1 if sys.stderr.isatty() else 10.0

    def count(self, what: str, n: int = 1) -> None:
        """Count `n` more of `what`, and redraw now and then."""
        self.counts[what] += n
        if time.monotonic() - self._shown >= self._every_s:
            self.draw()

    def draw(self) -> None:
        """Redraw the line."""
        self._shown = time.monotonic()
        done, width = self.counts["leads"], 24
        filled = int(width * done / self.total) if self.total else width
        c = self.counts
        start = "" if self._every_s > 1 else "\r"  # a terminal's bar overwrites itself
        sys.stderr.write(
            f"{start}leads [{'#' * filled}{'.' * (width - filled)}] {done:>6}/{self.total} | "
            f"handed off {c['handed_off']:>5} | called {c['called']:>5} | won {c['won']:>4} "
            f"lost {c['lost']:>4} repeat {c['repeat']:>4} | "
            f"{(self._shown - self.started) / 60:5.1f}/"
            f"{self.minutes:g} min" + ("\n" if self._every_s > 1 else ""))
        sys.stderr.flush()

    def close(self) -> None:
        """Draw the final counts and end the line."""
        self.draw()
        if self._every_s <= 1:
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


async def ensure_reps(stack: Stack) -> dict[str, RepProfile]:
    """The demo's reps (created once), by id."""
    existing = (await stack.call("GET", "handoff", "/v1/reps?limit=500")).json()["items"]
    by_email = {r["email"]: r["id"] for r in existing}
    for rep in REPS:
        if rep.email not in by_email:
            r = await stack.call("POST", "handoff", "/v1/reps", {
                "name": rep.name, "email": rep.email, "capacity": 10_000})
            by_email[rep.email] = r.json()["id"]
    return {by_email[rep.email]: rep for rep in REPS}


class DemoRun:
    """One run: a stream of leads, reps finding and answering them, deals closing later.

    Three loops share the stack: `stream` posts leads on schedule, `find` picks up handoffs
    and has the rep accept or reject at once, `work` makes the calls and closes the deals when
    they fall due. All times are the stack's own; the demo only decides when to ask.
    """

    def __init__(self, config: DemoConfig, stack: Stack, reps: dict[str, RepProfile],
                 status: Status) -> None:
        self.config, self.stack, self.reps, self.status = config, stack, reps, status
        self.started = time.monotonic()
        self.deadline = self.started + config.minutes * 60
        self.gate = asyncio.Semaphore(config.concurrency)
        self.sales_rng = random.Random(config.seed + 1)
        self.timing_rng = random.Random(config.seed + 2)
        self.repeat_rng = random.Random(config.seed + 3)
        self.clock = DemoClock(config.minutes * 60, config.stream_share, config.fit_reps)
        self.waiting: dict[int, tuple[PlannedLead, float]] = {}  # posted, not yet handed off
        self.due: list[tuple[float, int, Action, PlannedLead]] = []  # a heap, soonest first
        self.streaming = True
        self.finding = True

    def _schedule(self, at: float, action: Action, lead: PlannedLead) -> bool:
        """Plan `action` for monotonic time `at`; False when that is after the run ends."""
        if at > self.deadline:
            return False
        heapq.heappush(self.due, (at, lead.index * 2 + (action != "call"), action, lead))
        return True

    async def stream(self, leads: list[PlannedLead]) -> None:
        """Post the leads evenly over the stream's share of the run."""
        posting: list[asyncio.Task[None]] = []
        try:
            for lead in leads:
                wait = (self.started + self.clock.posted_at_s(lead.index, len(leads))
                        - time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.gate.acquire()  # a slow stack slows the stream instead of piling up
                posting.append(asyncio.create_task(self._post(lead)))
            await asyncio.gather(*posting)
        finally:
            self.streaming = False

    async def _post(self, lead: PlannedLead) -> None:
        try:
            r = await self.stack.call("POST", "capture", "/v1/leads", lead.body)
            lead.lead_id = str(r.json()["lead_id"])
            for touch in lead.touches:
                await self.stack.call("POST", "capture", "/v1/activities",
                                      {**touch, "lead_id": lead.lead_id})
        finally:
            self.gate.release()
        if lead.kind in ("hot", "warm"):  # the others never qualify: no handoff to wait for
            self.waiting[lead.index] = (lead, time.monotonic())
        self.status.count("leads")

    async def find(self) -> None:
        """Look for the handoffs of waiting leads about once a second until none is left
        (each waits at most `assignment_patience_s`)."""
        try:
            while self.streaming or self.waiting:
                await asyncio.gather(*(self._look(lead, posted)
                                       for lead, posted in list(self.waiting.values())))
                await asyncio.sleep(1)
        finally:
            self.finding = False

    async def _look(self, lead: PlannedLead, posted: float) -> None:
        async with self.gate:
            r = await self.stack.call("GET", "handoff", f"/v1/leads/{lead.lead_id}/assignment",
                                      ok=(200, 404))
        assignment = r.json() if r.status_code == 200 else {}
        if not assignment.get("rep"):
            if time.monotonic() - posted > self.config.assignment_patience_s:
                del self.waiting[lead.index]
            return
        del self.waiting[lead.index]
        self.status.count("handed_off")
        lead.assignment_id = assignment["id"]
        rep = self.reps.get(assignment["rep"]["id"])
        # A rep outside the demo's calls within seconds; given delays are real, never shrunk.
        delays: tuple[float, float] | None = (1.0, 5.0)
        real = True
        if rep is not None and rep.email in self.config.answer_delays:
            delays = self.config.answer_delays[rep.email]
        elif rep is not None:
            delays, real = rep.answers_after_s, False
        lead.rep_speed = speed_of(delays)  # the rep's own speed, however the run shrinks it
        lead.decision = decide_sales(lead, self.sales_rng)
        base = f"/v1/assignments/{lead.assignment_id}"
        async with self.gate:
            if lead.decision.reject_reason:
                reason = lead.decision.reject_reason
                rejection = {"reason_code": reason}
                if reason == "other":  # handoff asks what "other" means
                    rejection["note"] = "went with an in-house tool"
                await self.stack.call("POST", "handoff", f"{base}/reject", rejection,
                                      ok=(200, 409))
                return
            await self.stack.call("POST", "handoff", f"{base}/accept", ok=(200, 409))
        if delays is None:
            return
        # The rep's delay counts from the handoff, not from when the demo noticed it.
        since = (datetime.now(UTC) - datetime.fromisoformat(
            assignment["handed_off_at"])).total_seconds()
        delay = (self.timing_rng.uniform(*delays) if real
                 else self.clock.call_after_s(delays, self.timing_rng)) - max(since, 0.0)
        if not self._schedule(time.monotonic() + delay, "call", lead):
            self.status.count("calls after the run")

    async def work(self) -> None:
        """Make the calls and close the deals as they fall due."""
        while True:
            now = time.monotonic()
            if not self.due:
                if not (self.streaming or self.finding):
                    return
                await asyncio.sleep(0.5)
                continue
            if self.due[0][0] > now:
                await asyncio.sleep(min(self.due[0][0] - now, 0.5))
                continue
            ready = []
            while self.due and self.due[0][0] <= now:
                ready.append(heapq.heappop(self.due))
            await asyncio.gather(*(self._act(action, lead) for _, _, action, lead in ready))

    async def _act(self, action: Action, lead: PlannedLead) -> None:
        decision = lead.decision
        assert decision is not None  # decided when the lead was found
        deal = {"external_id": f"demo-{lead.lead_id}", "lead_id": lead.lead_id,
                "amount_minor": decision.amount_minor, "currency": "EUR"}
        if action == "repeat":
            await self._buy_again(lead)
            return
        async with self.gate:
            if action == "close":
                closing = {**deal, "status": decision.outcome}
                if decision.lost_reason:
                    closing["lost_reason"] = decision.lost_reason
                await self.stack.call("POST", "outcomes", "/v1/deals", closing)
                self.status.count(str(decision.outcome))
                if decision.outcome == "won":
                    lead.repeat = decide_repeat(lead, self.repeat_rng)
                if lead.repeat is not None and not self._schedule(
                        time.monotonic() + self.clock.repeat_after_s(lead.repeat), "repeat",
                        lead):
                    self.status.count("repeats after the run")
                return
            await self.stack.call("POST", "handoff", f"/v1/assignments/{lead.assignment_id}"
                                  "/contacted", {"channel": "phone"}, ok=(200, 409))
            self.status.count("called")
            if not decision.opens_deal:
                return
            await self.stack.call("POST", "outcomes", "/v1/deals", {**deal, "status": "open"})
        if decision.outcome is None:  # the plan keeps it open
            self.status.count("deals open at the end")
            return
        close_after = (self.timing_rng.uniform(*self.config.close_after_s)
                       if self.config.close_after_s else self.clock.close_after_s(self.timing_rng))
        if not self._schedule(time.monotonic() + close_after, "close", lead):
            self.status.count("deals open at the end")


    async def _buy_again(self, lead: PlannedLead) -> None:
        """A customer's second purchase: a new deal (its own external id), opened and won."""
        assert lead.repeat is not None  # scheduled only for a customer who buys again
        deal = {"external_id": f"demo-{lead.lead_id}-2", "lead_id": lead.lead_id,
                "amount_minor": lead.repeat.amount_minor, "currency": "EUR"}
        async with self.gate:
            await self.stack.call("POST", "outcomes", "/v1/deals", {**deal, "status": "open"})
            await self.stack.call("POST", "outcomes", "/v1/deals", {**deal, "status": "won"})
        self.status.count("repeat")


async def run_demo(config: DemoConfig) -> dict[str, Any]:
    """Run the demo; returns what it did (counts, the planned leads, seconds taken)."""
    started = time.monotonic()
    leads = plan_leads(config.leads, config.seed)
    limits = httpx.Limits(max_connections=config.concurrency * 2)
    status = Status(len(leads), config.minutes)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        stack = Stack(config, http)
        run = DemoRun(config, stack, await ensure_reps(stack), status)
        await asyncio.gather(run.stream(leads), run.find(), run.work())
    status.close()
    return {"leads": status.counts["leads"], "handed_off": status.counts["handed_off"],
            "called": status.counts["called"], "won": status.counts["won"],
            "lost": status.counts["lost"],
            "calls_after_the_run": status.counts["calls after the run"],
            "deals_open_at_the_end": status.counts["deals open at the end"],
            "repeat_won": status.counts["repeat"],
            "repeats_after_the_run": status.counts["repeats after the run"],
            "planned": leads, "seconds": time.monotonic() - started}
