"""OpenTelemetry tracing across HTTP and Kafka: one lead's journey is one trace.

The W3C trace context travels in events as the CloudEvents `traceparent` extension. Each request
and each consumed event runs in a span whose parent is the caller's (or the event's) context,
and events published meanwhile carry that span as their parent. Spans are exported over OTLP/HTTP
when an endpoint is configured. Without one no span objects are made at all (they cost about a
tenth of a millisecond each, several per lead); the trace context still travels, each hop getting
a fresh span id in the caller's trace, so logs and events stay correlated. Outgoing HTTP calls
(webhooks) carry the context as a `traceparent` header (`client_request`).

With tracing on, the client side shows too: a span per database statement run inside a request
or an event (`trace_database`) and a span per event the outbox relay sends to Kafka
(`producing`), each a child of the span it belongs to. They are written here, thinly, rather
than with OpenTelemetry's asyncpg and aiokafka instrumentations: those patch the libraries for
every process and carry their own trace context in Kafka headers, while ours travels in the
event (and they pin an older SDK than the lock's).

Sampling follows the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG variables (default:
parentbased_always_on), read by the SDK when tracing is set up.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from asyncpg.connection import LoggedQuery
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.events.envelope import child_traceparent
from leadloop.observability import current_traceparent

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("leadloop")
_recording = False  # whether spans are exported (set by setup_tracing)


def setup_tracing(service: str, otlp_endpoint: str | None, export_delay_ms: int = 5000) -> None:
    """Install a tracer provider exporting to `otlp_endpoint`; without one, stay span-free."""
    global _recording
    _recording = bool(otlp_endpoint)
    if not otlp_endpoint:
        return  # the global provider stays the no-op one, for our spans and FastAPI's
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=otlp_endpoint), schedule_delay_millis=export_delay_ms))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    """Flush spans still buffered (called at clean shutdown)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


@contextmanager
def traced(name: str, kind: SpanKind, parent_traceparent: str | None,
           attributes: dict[str, str] | None = None) -> Iterator[str]:
    """Run the block in a span that continues `parent_traceparent`; yields the span's own
    traceparent (what events published inside it carry)."""
    if not _recording:
        yield child_traceparent(parent_traceparent)
        return
    context = _propagator.extract({"traceparent": parent_traceparent}) \
        if parent_traceparent else None
    with _tracer.start_as_current_span(name, context=context, kind=kind,
                                       attributes=attributes or {}) as span:
        span_context = span.get_span_context()
        if not span_context.is_valid:
            yield child_traceparent(parent_traceparent)
            return
        yield (f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
               f"{int(span_context.trace_flags):02x}")


def _traceparent_of(span: trace.Span, parent: str | None) -> str:
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return child_traceparent(parent)
    return (f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
            f"{int(span_context.trace_flags):02x}")


@contextmanager
def _spans_open(spans: Iterable[tuple[str, str | None, dict[str, str]]], kind: SpanKind
                ) -> Iterator[list[tuple[trace.Span, str | None]]]:
    """One span per (name, parent traceparent, attributes), open for the block; a block that
    raises marks them all as errors."""
    opened: list[tuple[trace.Span, str | None]] = []
    try:
        for name, parent, attributes in spans:
            context = _propagator.extract({"traceparent": parent}) if parent else None
            opened.append((_tracer.start_span(name, context=context, kind=kind,
                                              attributes=attributes), parent))
        yield opened
    except BaseException as exc:
        for span, _parent in opened:
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        for span, _parent in opened:
            span.end()


@contextmanager
def traced_each(spans: list[tuple[str, str | None, dict[str, str]]]) -> Iterator[list[str]]:
    """A CONSUMER span per (name, parent traceparent, attributes), all open for the block (a
    batch applied together); yields each span's traceparent, in order.

    The first span is the current one for the block: the batch's database statements, which
    serve all its events at once, are recorded once, under the first event's span."""
    if not _recording:
        yield [child_traceparent(parent) for _name, parent, _attributes in spans]
        return
    with _spans_open(spans, SpanKind.CONSUMER) as opened:
        token = otel_context.attach(trace.set_span_in_context(opened[0][0])) if opened else None
        try:
            yield [_traceparent_of(span, parent) for span, parent in opened]
        finally:
            if token is not None:
                otel_context.detach(token)


@contextmanager
def producing(records: Callable[[], Iterable[tuple[str, str | None, str, str]]]
              ) -> Iterator[None]:
    """A PRODUCER span per record (topic, the event's traceparent, event id, lead id), open
    while the block sends the records and waits for the broker's acknowledgements: each is a
    child of the span that published the event, so the send shows in the lead's trace.
    Without tracing nothing is made, not even the list (`records` is called only when on)."""
    if not _recording:
        yield
        return
    with _spans_open(((f"send {topic}", parent, {
            "messaging.system": "kafka", "messaging.operation.type": "send",
            "messaging.destination.name": topic, "messaging.message.id": event_id,
            "leadloop.lead_id": lead_id}) for topic, parent, event_id, lead_id in records()),
            SpanKind.PRODUCER):
        yield


@contextmanager
def continuing(traceparent: str | None) -> Iterator[None]:
    """Run the block as part of the span `traceparent` names, for work done for a request on
    another task (capture's group commit): its statements' spans become that span's children.
    Nothing without tracing."""
    if not _recording or not traceparent:
        yield
        return
    token = otel_context.attach(_propagator.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)


# A statement's text is the span's db.query.text (parameters are never in it); a long one is cut.
_QUERY_TEXT_MAX = 2000
_QUERY_START = "leadloop.query_started_ns"


def _database_span(statement: str, start_ns: int, end_ns: int,
                   error: BaseException | None) -> None:
    """A CLIENT span for one statement that ran inside a traced request or event (outside one,
    e.g. an outbox poll, none: it would be a trace of its own every few milliseconds)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return
    words = statement.split(None, 1)
    span = _tracer.start_span(words[0].upper() if words else "SQL", kind=SpanKind.CLIENT,
                              start_time=start_ns, attributes={
                                  "db.system.name": "postgresql",
                                  "db.query.text": statement[:_QUERY_TEXT_MAX]})
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
    span.end(end_time=end_ns)


def _driver_query(record: LoggedQuery) -> None:
    # asyncpg calls its query loggers just after the statement, in a copy of the caller's
    # context (so the current span is the caller's), with how long it took.
    end = time.time_ns()
    _database_span(record.query, end - int(record.elapsed * 1e9), end, record.exception)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.driver_connection.add_query_logger(_driver_query)


def _before_statement(conn: Any, _cursor: Any, _statement: str, _parameters: Any,
                      _context: Any, executemany: bool) -> None:
    if not executemany:  # executemany goes through asyncpg's query logger
        conn.info[_QUERY_START] = time.time_ns()


def _after_statement(conn: Any, _cursor: Any, statement: str, _parameters: Any,
                     _context: Any, executemany: bool) -> None:
    start = conn.info.pop(_QUERY_START, None)
    if not executemany and start is not None:
        _database_span(statement, start, time.time_ns(), None)


def trace_database(engine: AsyncEngine) -> None:
    """Database CLIENT spans for `engine`'s statements inside traced requests and events:
    SQLAlchemy's through its cursor events, those sent straight to asyncpg (`uow.driver()`)
    through asyncpg's query logger. Without tracing nothing is hooked (asyncpg skips its
    timing when no logger is set), so the hot path pays nothing."""
    if not _recording:
        return
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "connect", _on_connect)
    event.listen(sync_engine, "before_cursor_execute", _before_statement)
    event.listen(sync_engine, "after_cursor_execute", _after_statement)


@contextmanager
def client_request(method: str, url: str, parent_traceparent: str | None = None
                   ) -> Iterator[dict[str, str]]:
    """Headers for one outgoing HTTP request sent inside the block: a `traceparent` continuing
    `parent_traceparent` or else the request or event being handled (a new trace when there is
    neither). With tracing on, the block is a CLIENT span and the header names it, so the
    receiver's spans join the trace."""
    # Host only: a webhook URL's path or query may hold a token.
    attributes = {"http.request.method": method, "server.address": urlsplit(url).hostname or ""}
    with traced(method, SpanKind.CLIENT, parent_traceparent or current_traceparent(),
                attributes) as traceparent:
        yield {"traceparent": traceparent}


class ServerSpan:
    """The span of one HTTP request, named `METHOD /route/{template}` once routing has found
    the route (`finish`). Without tracing it only carries the request's traceparent."""

    __slots__ = ("_span", "_token", "traceparent")

    def __init__(self, method: str, parent_traceparent: str | None) -> None:
        self._span: trace.Span | None = None
        self._token: object = None
        if not _recording:
            self.traceparent = child_traceparent(parent_traceparent)
            return
        context = _propagator.extract({"traceparent": parent_traceparent}) \
            if parent_traceparent else None
        span = _tracer.start_span(method, context=context, kind=SpanKind.SERVER,
                                  attributes={"http.request.method": method})
        span_context = span.get_span_context()
        self._span = span
        # Current for the request, so client spans (database, webhooks) are its children.
        self._token = otel_context.attach(trace.set_span_in_context(span))
        self.traceparent = (
            f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
            f"{int(span_context.trace_flags):02x}" if span_context.is_valid
            else child_traceparent(parent_traceparent))

    def finish(self, method: str, route: str | None, status: int) -> None:
        """End the span: named by the route template (the raw path would hold ids), with the
        answer's status; a 5xx marks it as an error."""
        span = self._span
        if span is None:
            return
        if route is not None:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end()
        otel_context.detach(self._token)  # type: ignore[arg-type]


def recording() -> bool:
    """Whether spans are exported (an OTLP endpoint is configured)."""
    return _recording
