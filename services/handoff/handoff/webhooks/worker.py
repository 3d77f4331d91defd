"""The webhook worker: sends due deliveries, signed per Standard Webhooks, and schedules retries.

Deliveries are leased (claimed with FOR UPDATE SKIP LOCKED and pushed past a lease), sent
outside any transaction, then their outcome recorded. A crash mid-send means the message is
sent again after the lease: receivers deduplicate on webhook-id, as the standard expects.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter

from handoff.config import HandoffSettings
from handoff.webhooks import repository as webhook_repository
from handoff.webhooks.schedule import gives_up, retry_delay
from leadloop.app import Runtime, settings_of
from leadloop.tracing import client_request
from leadloop.webhooks import (
    Network,
    TargetRefused,
    check_target,
    headers_for,
    post_to_target,
)
from leadloop.worker import run_worker

WEBHOOK_ATTEMPTS = Counter(
    "leadloop_handoff_webhook_attempts_total", "Webhook delivery attempts, by outcome.",
    ["outcome"])

log = logging.getLogger(__name__)
WAKEUP = "handoff.webhooks"


def secrets_in_use(stored: list[dict[str, Any]], now: datetime) -> list[str]:
    """The subscriber's secrets that still sign: the current one and any not yet expired."""
    return [s["secret"] for s in stored
            if s.get("expires_at") is None or datetime.fromisoformat(s["expires_at"]) > now]


def wake_webhooks(runtime: Runtime) -> None:
    """Deliver now: this process just queued deliveries (the poll is for other replicas' and
    for retries, which come due with time)."""
    runtime.wakeup(WAKEUP).set()


async def run_webhooks(runtime: Runtime) -> None:
    """Background worker: deliver webhooks until the service stops."""
    settings = settings_of(runtime, HandoffSettings)
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_s,
                                 follow_redirects=False) as client:

        async def deliver(runtime: Runtime) -> int:
            return await deliver_due(runtime, client, settings)

        await run_worker(runtime, "webhooks", deliver, wake_on=WAKEUP, backoff_max_s=10.0,
                         interval_s=settings.webhook_poll_interval_s)


async def deliver_due(runtime: Runtime, client: httpx.AsyncClient,
                      settings: HandoffSettings) -> int:
    """Send one batch of due deliveries; returns how many were attempted."""
    now = datetime.now(UTC)
    lease = timedelta(seconds=settings.webhook_timeout_s * 3 + 5)
    async with runtime.unit_of_work() as uow:
        due = await webhook_repository.claim_due(uow.connection, now, now + lease,
                                                 settings.webhook_batch_size)
        await uow.commit()
    if not due:
        return 0
    allowed = settings.webhook_networks
    results = await asyncio.gather(*(_attempt(client, row, allowed) for row in due))
    outcomes, failed_subscribers = [], set()
    for row, (code, error, duration_ms) in zip(due, results, strict=True):
        at = datetime.now(UTC)
        attempt = row.attempts + 1
        ok = code is not None and 200 <= code < 300
        outcome: dict[str, Any] = {"id": row.id, "attempt": attempt, "at": at, "code": code,
                                   "error": error, "duration_ms": duration_ms,
                                   "delivered": at if ok else None, "next": at}
        if ok:
            outcome["status"] = "delivered"
        elif gives_up(row.first_attempt_at or at, at,  # none yet: this is the first
                      timedelta(seconds=settings.webhook_retry_window_s)):
            outcome["status"] = "failed"
            failed_subscribers.add(row.subscriber_id)
        else:
            outcome["status"] = "pending"
            outcome["next"] = at + retry_delay(
                attempt, timedelta(seconds=settings.webhook_retry_base_s),
                timedelta(seconds=settings.webhook_retry_max_s))
        WEBHOOK_ATTEMPTS.labels("delivered" if ok else outcome["status"]).inc()
        outcomes.append(outcome)
    async with runtime.unit_of_work() as uow:
        await webhook_repository.record_outcomes(uow.connection, outcomes)
        await webhook_repository.disable(
            uow.connection, sorted(failed_subscribers),
            "a message failed for the whole retry window; enable the subscriber to resume")
        await uow.commit()
    return len(due)


async def _attempt(client: httpx.AsyncClient, row: Any,
                   allowed: list[Network]) -> tuple[int | None, str | None, int]:
    """POST one delivery to the address checked just now; (status code, error, duration in ms).

    The log keeps the status code and the error class, never the answer's body: an admin reads
    the log, and the body is whatever the target chose to say."""
    now = datetime.now(UTC)
    headers = headers_for(secrets_in_use(row.secrets, now), row.id, int(now.timestamp()),
                          row.body)
    started = time.monotonic()
    try:
        target = await check_target(row.url, allowed)
        with client_request("POST", row.url) as trace_headers:
            response = await post_to_target(client, target, row.body.encode(),
                                            headers | trace_headers)
        error = None if response.is_success else f"HTTP {response.status_code}"
        return response.status_code, error, int((time.monotonic() - started) * 1000)
    except TargetRefused as exc:
        return None, f"target refused: {exc}"[:200], int((time.monotonic() - started) * 1000)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__, int((time.monotonic() - started) * 1000)
