"""Capture across processes: an import survives a crash, rate limits hold across replicas, and
Idempotency-Key answers are purged after their retention."""

import asyncio
import csv
import io
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from leadloop.events.envelope import CloudEvent
from leadloop_devstack.services import ServiceProcess
from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form, unique_email
from tests.e2e.conftest import service_dsn
from tests.support import TopicReader, consumer_lag, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]
CREATED = "leadloop.lead.created.v1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _csv(tag: str, count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "first_name", "company", "country", "phone"])
    writer.writerows([f"p{n}.{tag}@Example-Corp.com", f"P{n}", "Example Corp", "de",
                      "030 1234567"] for n in range(count))
    return out.getvalue().encode()


async def test_import_killed_mid_way_resumes_after_restart_without_duplicates(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base, tag, rows = stack.url("capture"), uuid.uuid4().hex[:8], 3_000
    started = await http.post(f"{base}/v1/imports", content=_csv(tag, rows),
                              params={"campaign": f"crash-{tag}"}, timeout=60,
                              headers={**admin_headers, "Content-Type": "text/csv"})
    assert started.status_code == 202, started.text
    url = f"{base}/v1/imports/{started.json()['import_id']}"

    async def some_chunks_committed() -> None:
        report = (await http.get(url, headers=admin_headers)).json()
        assert report["rows_total"] > 0, report
    await eventually(some_chunks_committed, timeout_s=60, interval_s=0.02)
    stack.kill_service("capture")  # SIGKILL: no chance to finish the chunk in hand

    conn = await asyncpg.connect(service_dsn(stack, "capture"))
    try:
        status, done = await conn.fetchrow("SELECT status, rows_total FROM imports WHERE id = $1",
                                           uuid.UUID(started.json()["import_id"]))
    finally:
        await conn.close()
    assert status == "running" and 0 < done < rows, "the kill did not interrupt the import"

    await stack.start_service("capture")

    async def finished() -> dict[str, Any]:
        report: dict[str, Any] = (await http.get(url, headers=admin_headers)).json()
        assert report["status"] != "running", report
        return report
    report = await eventually(finished, timeout_s=120)
    assert (report["status"], report["rows_total"], report["created"], report["failed"]) == (
        "completed", rows, rows, 0)

    conn = await asyncpg.connect(service_dsn(stack, "capture"))
    try:
        lead_ids = {str(r["id"]) for r in await conn.fetch(
            "SELECT id FROM leads WHERE source->>'campaign' = $1", f"crash-{tag}")}
    finally:
        await conn.close()
    assert len(lead_ids) == rows

    def created_by_lead(events: list[CloudEvent]) -> dict[str, set[str]]:
        """Event ids of this import's lead.created, per lead."""
        found: dict[str, set[str]] = {}
        for event in events:
            if event.type == CREATED and event.data["source"].get("campaign") == f"crash-{tag}":
                found.setdefault(event.data["lead_id"], set()).add(event.id)
        return found

    # Wait for what is asserted: a lead.created for every lead. Counting records instead ends
    # the wait early: the relay is at-least-once, and killed between publishing a batch and
    # deleting them it publishes those rows again (same ids, which consumers dedupe), so the
    # count reaches `rows` while the last leads' events are still on their way.
    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: len(created_by_lead(evs)) >= rows,
                                       timeout_s=120)
    event_ids_per_lead = created_by_lead(events)
    assert set(event_ids_per_lead) == lead_ids
    # One lead.created per lead: a chunk redone after the crash would have made new ids.
    assert all(len(ids) == 1 for ids in event_ids_per_lead.values())
    assert {e.data["profile"]["phone"] for e in events if e.type == CREATED
            and e.data["source"].get("campaign") == f"crash-{tag}"} == {"+49301234567"}

    # Every service takes in the imported leads before the next test: they share this stack,
    # and a backlog of thousands of leads would hold up whatever they wait for.
    async def downstream_caught_up() -> None:
        assert not any((await consumer_lag(stack.bootstrap_servers)).values())
    await eventually(downstream_caught_up, timeout_s=600, interval_s=1)


@pytest_asyncio.fixture
async def second_capture(stack: Stack) -> AsyncIterator[ServiceProcess]:
    """Another capture process on the same database, as a second replica would be."""
    first = stack.services["capture"]
    replica = ServiceProcess("capture", first.host, _free_port(), dict(first.env),
                             first.log.with_name("capture-replica.log"))
    replica.start()
    try:
        await replica.wait_ready()
        yield replica
    finally:
        await asyncio.to_thread(replica.stop)


async def test_two_capture_processes_share_one_rate_limit_budget(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        second_capture: ServiceProcess) -> None:
    form = await create_form(http, stack, admin_headers, contact_form(
        spam={"min_fill_seconds": 0, "per_ip_per_minute": 4, "per_form_per_minute": 1000}))
    outcomes = []
    for base in [stack.url("capture"), second_capture.url] * 3:
        response = await http.post(
            f"{base}/v1/forms/{form['id']}/submissions",
            json={"email": unique_email("limit"), "_form_key": form["public_key"]})
        outcomes.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
    assert sorted(outcomes) == [201, 201, 201, 201, 429, 429], outcomes
    assert outcomes[-2:] == [429, 429]  # both processes refuse once the shared budget is spent


async def test_idempotency_keys_are_purged_after_their_retention(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    old_key, fresh_key = str(uuid.uuid4()), str(uuid.uuid4())
    for key in (old_key, fresh_key):
        first = await http.post(f"{base}/v1/leads", json={"email": unique_email("idem")},
                                headers={**admin_headers, "Idempotency-Key": key})
        assert first.status_code == 201, first.text
    conn = await asyncpg.connect(service_dsn(stack, "capture"))
    try:  # the first key's answer is now older than the 24-hour retention
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
                           " WHERE key = $1", old_key)

        async def purged() -> None:
            left = await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1",
                                       old_key)
            assert left == 0
        await eventually(purged, timeout_s=30)
    finally:
        await conn.close()

    # The expired key is free again: another request with it is new work, not a 422 reuse.
    reused = await http.post(f"{base}/v1/leads", json={"email": unique_email("idem")},
                             headers={**admin_headers, "Idempotency-Key": old_key})
    assert reused.status_code == 201 and "Idempotent-Replayed" not in reused.headers
    # A key within its retention is still held: using it for another request is refused.
    replay = await http.post(f"{base}/v1/leads", json={"email": unique_email("other")},
                             headers={**admin_headers, "Idempotency-Key": fresh_key})
    assert replay.status_code == 422, replay.text
