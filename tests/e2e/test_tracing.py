"""One lead's journey is one trace, with linked spans in all five services."""

import secrets

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import qualified_lead
from tests.support import eventually
from tests.trace_collector import ReceivedSpan, TraceCollector

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_lead_journey_is_one_trace_across_all_five_services(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        trace_collector: TraceCollector, reps: list[dict]) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    response = await http.post(
        f"{stack.url('capture')}/v1/leads", json=qualified_lead(),
        headers={**admin_headers, "traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert response.status_code == 201

    async def spans_everywhere() -> list[ReceivedSpan]:
        spans = trace_collector.trace(trace_id)
        assert {s.service for s in spans} >= {"capture", "scoring", "handoff", "nurture",
                                              "outcomes"}, sorted({s.service for s in spans})
        assert any(s.service == "handoff" and s.name == "consume leadloop.lead.qualified.v1"
                   for s in spans)
        # Services export in batches: wait until every span checked below has arrived.
        for service in ("scoring", "nurture", "outcomes"):
            assert any(s.service == service and s.name == "consume leadloop.lead.created.v1"
                       for s in spans), service
        return spans
    spans = await eventually(spans_everywhere, timeout_s=30)

    by_id = {s.span_id: s for s in spans}
    capture_span = next(s for s in spans if s.service == "capture" and s.name == "POST /v1/leads")
    assert capture_span.parent_span_id == caller_span, "capture continues the caller's trace"
    assert [s.name for s in spans if s.service == "capture" and s.kind == 2] == \
        ["POST /v1/leads"], "one server span per request"
    for service in ("scoring", "nurture", "outcomes"):
        consumed = next(s for s in spans if s.service == service
                        and s.name == "consume leadloop.lead.created.v1")
        assert by_id[consumed.parent_span_id].service == "capture"
    handoff_span = next(s for s in spans if s.service == "handoff"
                        and s.name == "consume leadloop.lead.qualified.v1")
    assert by_id[handoff_span.parent_span_id].service == "scoring"

    # Client spans: capture's statements for the request and the relay's send of the lead's
    # event, in the same trace; a consumer's statements under its consume span.
    CLIENT, PRODUCER = 3, 4

    async def client_spans() -> list[ReceivedSpan]:
        spans = trace_collector.trace(trace_id)
        statements = [s for s in spans if s.kind == CLIENT
                      and s.attributes.get("db.system.name") == "postgresql"]
        assert any(s.parent_span_id == capture_span.span_id for s in statements)
        assert any(by_id.get(s.parent_span_id) == handoff_span for s in statements)
        sends = [s for s in spans if s.kind == PRODUCER and s.name == "send leadloop.capture"]
        assert any(s.parent_span_id == capture_span.span_id
                   and s.attributes["messaging.destination.name"] == "leadloop.capture"
                   for s in sends), sends
        return statements
    statements = await eventually(client_spans, timeout_s=30)
    assert any(s.name == "INSERT" and "INSERT INTO" in s.attributes["db.query.text"]
               for s in statements if s.service == "capture")
