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
    for service in ("scoring", "nurture", "outcomes"):
        consumed = next(s for s in spans if s.service == service
                        and s.name == "consume leadloop.lead.created.v1")
        assert by_id[consumed.parent_span_id].service == "capture"
    handoff_span = next(s for s in spans if s.service == "handoff"
                        and s.name == "consume leadloop.lead.qualified.v1")
    assert by_id[handoff_span.parent_span_id].service == "scoring"
