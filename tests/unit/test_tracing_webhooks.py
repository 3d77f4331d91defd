"""Outgoing webhooks carry the W3C trace context (leadloop.tracing.client_request): handoff's
Standard Webhooks deliveries and nurture's channel adapters, received by a real HTTP server on
loopback."""

import asyncio
import ipaddress
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from handoff.webhooks.worker import _attempt
from leadloop import tracing
from leadloop.observability import bind_context
from leadloop.webhooks import new_secret
from nurture.sending.channels import send_webhook

pytestmark = pytest.mark.asyncio


@asynccontextmanager
async def _receiver() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An HTTP server on loopback that answers 204 and keeps each request's headers."""
    received: list[dict[str, str]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, v in (line.split(":", 1) for line in head[1:] if line)}
        await reader.readexactly(int(headers.get("content-length", "0")))
        received.append(headers)
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hooks/leadloop?token=secret", received
    finally:
        server.close()
        await server.wait_closed()


async def _send_both(url: str) -> None:
    """One handoff delivery and one nurture channel message to `url`."""
    row = SimpleNamespace(id="msg_test", url=url, body='{"type": "test"}',
                          secrets=[{"secret": new_secret(), "expires_at": None}])
    async with httpx.AsyncClient() as client:
        code, error, _ = await _attempt(client, row, [ipaddress.ip_network("127.0.0.0/8")])
        assert (code, error) == (204, None)
        outcome = await send_webhook(client, url, "nurture-secret",
                                     {"message_id": "m-1", "channel": "sms"},
                                     [ipaddress.ip_network("127.0.0.0/8")])
        assert outcome.ok


async def _send_both_while_handling(traceparent: str) -> list[dict[str, str]]:
    """Send both kinds of webhook while a consumer works on an event of trace `traceparent`;
    returns the headers the receiver got."""
    bind_context(traceparent=traceparent)
    try:
        async with _receiver() as (url, received):
            await _send_both(url)
    finally:
        bind_context()
    return received


def _parts(traceparent: str) -> tuple[str, str, str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (len(version), len(trace_id), len(span_id), len(flags)) == (2, 32, 16, 2)
    return version, trace_id, span_id, flags


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, exporting to memory (as setup_tracing does to OTLP), for this test only."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = tracing._tracer, tracing._recording
    tracing._tracer, tracing._recording = provider.get_tracer("leadloop"), True
    try:
        yield exporter
    finally:
        tracing._tracer, tracing._recording = saved
        provider.shutdown()


async def test_webhooks_sent_while_handling_a_lead_continue_its_trace() -> None:
    lead_trace, lead_span = secrets.token_hex(16), secrets.token_hex(8)
    received = await _send_both_while_handling(f"00-{lead_trace}-{lead_span}-01")
    assert len(received) == 2
    for headers in received:
        _, trace_id, span_id, flags = _parts(headers["traceparent"])
        assert (trace_id, flags) == (lead_trace, "01")
        assert span_id != lead_span, "the request is a hop of its own"


async def test_webhook_sent_outside_any_trace_starts_one() -> None:
    async with _receiver() as (url, received):
        await _send_both(url)
    trace_ids = {_parts(h["traceparent"])[1] for h in received}
    assert len(trace_ids) == 2 and "0" * 32 not in trace_ids


async def test_with_tracing_on_each_webhook_is_a_client_span_the_receiver_continues(
        spans: InMemorySpanExporter) -> None:
    lead_trace, lead_span = secrets.token_hex(16), secrets.token_hex(8)
    received = await _send_both_while_handling(f"00-{lead_trace}-{lead_span}-01")
    exported: list[ReadableSpan] = list(spans.get_finished_spans())
    assert [s.kind for s in exported] == [SpanKind.CLIENT, SpanKind.CLIENT]
    for headers, span in zip(received, exported, strict=True):
        _, trace_id, span_id, _ = _parts(headers["traceparent"])
        assert span.context is not None and span.parent is not None
        assert f"{span.context.trace_id:032x}" == trace_id == lead_trace
        assert f"{span.context.span_id:016x}" == span_id, "the receiver's parent is this span"
        assert f"{span.parent.span_id:016x}" == lead_span
        assert span.name == "POST"
        # The host only: the webhook URL's query holds a token.
        assert dict(span.attributes or {}) == {"http.request.method": "POST",
                                               "server.address": "127.0.0.1"}
