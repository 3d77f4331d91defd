"""Delivery guarantees across the real services: nothing lost, nothing doubled."""

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leadloop.events import CloudEvent
from leadloop.events.envelope import trace_id_of
from leadloop.events.models import LeadActivity, event_time_now
from leadloop.kafka import close_producer, create_producer
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead, service_dsn, unqualified_lead
from tests.support import TopicReader, eventually, read_records

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _publish_as_capture(stack: Stack, *events: CloudEvent | tuple[bytes, CloudEvent]) -> None:
    producer = create_producer(stack.bootstrap_servers, "test-capture")
    await producer.start()
    try:
        for item in events:
            raw, event = item if isinstance(item, tuple) else (None, item)
            key, value, headers = event.to_kafka()
            await producer.send_and_wait("leadloop.capture", value=raw or value, key=key,
                                         headers=headers)
    finally:
        await close_producer(producer)


def _page_view(lead_id: str) -> CloudEvent:
    data = LeadActivity(lead_id=uuid.UUID(lead_id), activity_id=uuid.uuid4(), kind="page_view",
                        occurred_at=event_time_now(), url="https://example.com/blog")
    return CloudEvent(type="leadloop.lead.activity.v1", source="capture", subject=lead_id,
                      data=data.model_dump(mode="json"))


async def _score(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                 lead_id: str) -> dict:
    r = await http.get(f"{stack.url('scoring')}/v1/leads/{lead_id}/score", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_duplicated_activity_event_scores_once(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    lead_id = await post_lead(http, stack, admin_headers, unqualified_lead())
    await eventually(lambda: _score(http, stack, admin_headers, lead_id))
    view, second_view = _page_view(lead_id), _page_view(lead_id)

    await _publish_as_capture(stack, view, view, second_view)

    async def two_views_counted() -> None:
        score = await _score(http, stack, admin_headers, lead_id)
        views = [c for c in score["contributions"] if c["rule_id"] == "engagement.page_view"]
        assert sum(c["points"] for c in views) == 4, score["contributions"]
    await eventually(two_views_counted)


async def test_poison_event_is_dead_lettered_and_later_leads_still_flow(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    poison_lead = str(uuid.uuid4())
    poison = _page_view(poison_lead)
    dead_lettered = await _dead_lettered(http, stack, "scoring")
    await _publish_as_capture(stack, (b'{"lead_id": "not a uuid"}', poison))

    parked = await read_records(stack.bootstrap_servers, "leadloop.scoring.dlq", 1)
    assert poison.id.encode() in {dict(r.headers)["ce_id"] for r in parked}

    # Operators see it: the counter rises, and the log line names the event, lead and trace.
    async def counted() -> None:
        assert await _dead_lettered(http, stack, "scoring") >= dead_lettered + 1
    await eventually(counted)
    log = stack.settings.home / "logs" / "scoring.log"
    async def logged() -> None:
        assert any(e["msg"].startswith("dead-lettering") and e["level"] == "ERROR"
                   and e.get("lead_id") == poison_lead
                   and e.get("trace_id") == trace_id_of(poison.traceparent)
                   for e in _json_lines(log) if e.get("event_id") == poison.id)
    await eventually(logged)

    lead_id = await post_lead(http, stack, admin_headers, unqualified_lead())
    await eventually(lambda: _score(http, stack, admin_headers, lead_id))


async def _dead_lettered(http: httpx.AsyncClient, stack: Stack, service: str) -> float:
    """leadloop_events_dead_lettered_total of `service`, all event types together."""
    text = (await http.get(f"{stack.url(service)}/metrics")).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "leadloop_events_dead_lettered_total")


def _json_lines(log: Path) -> list[dict[str, Any]]:
    entries = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue  # a line something wrote outside the logging system
    return [e for e in entries if isinstance(e, dict)]


@pytest.mark.parametrize("victim", ["scoring", "handoff"])
async def test_service_killed_mid_stream_loses_and_doubles_nothing(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict], victim: str) -> None:
    bodies = [qualified_lead() for _ in range(150)]

    async def post_all() -> list[str]:
        ids = []
        for i, body in enumerate(bodies):
            ids.append(await post_lead(http, stack, admin_headers, body))
            if i == 50:
                stack.kill_service(victim)  # SIGKILL while events flow
        return ids

    lead_ids = await post_all()
    await stack.start_service(victim)

    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool:
        def all_handed_off(events: list[CloudEvent]) -> bool:
            return {e.subject for e in events if e.type == "leadloop.lead.handed_off.v1"} \
                >= set(lead_ids)
        events = await sales_tool.wait_for(all_handed_off, timeout_s=90)
    ours = set(lead_ids)
    handoffs = [e for e in events if e.type == "leadloop.lead.handed_off.v1" and e.subject in ours]
    # A relay killed between publishing and deleting its rows republishes the same event (same id),
    # which consumers dedupe; what must never happen is a second *handoff* of a lead.
    per_lead = Counter(e.subject for e in {e.id: e for e in handoffs}.values())
    assert set(per_lead) == ours, "every acknowledged lead was handed off"
    assert max(per_lead.values()) == 1, "no lead was handed off twice"


@pytest.mark.parametrize("service", ["capture", "scoring", "handoff", "nurture", "outcomes"])
async def test_a_migrated_outbox_sends_no_notify(stack: Stack, service: str) -> None:
    """Each service's migrations leave its outbox with no trigger: a NOTIFY sent in a
    transaction serialises its commit with every other NOTIFYing commit in the PostgreSQL
    cluster, so the commit that writes events wakes its own process's relay instead."""
    conn = await asyncpg.connect(service_dsn(stack, service))
    try:
        triggers = await conn.fetch("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                                    " AND tgrelid = 'outbox'::regclass")
    finally:
        await conn.close()
    assert triggers == []
