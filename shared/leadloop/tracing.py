"""OpenTelemetry tracing across HTTP and Kafka: one lead's journey is one trace.

The W3C trace context travels in events as the CloudEvents `traceparent` extension. Each request
and each consumed event runs in a span whose parent is the caller's (or the event's) context,
and events published meanwhile carry that span as their parent. Spans are exported over OTLP/HTTP
when an endpoint is configured. Without one no span objects are made at all (they cost about a
tenth of a millisecond each, several per lead); the trace context still travels, each hop getting
a fresh span id in the caller's trace, so logs and events stay correlated. Outgoing HTTP calls
(webhooks) carry the context as a `traceparent` header (`client_request`).

Sampling follows the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG variables (default:
parentbased_always_on), read by the SDK when tracing is set up.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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


@contextmanager
def traced_each(spans: list[tuple[str, str | None, dict[str, str]]]) -> Iterator[list[str]]:
    """A CONSUMER span per (name, parent traceparent, attributes), all open for the block (a
    batch applied together); yields each span's traceparent, in order."""
    if not _recording:
        yield [child_traceparent(parent) for _name, parent, _attributes in spans]
        return
    opened = []
    try:
        for name, parent, attributes in spans:
            context = _propagator.extract({"traceparent": parent}) if parent else None
            opened.append(_tracer.start_span(name, context=context, kind=SpanKind.CONSUMER,
                                             attributes=attributes))
        traceparents = []
        for span, (_name, parent, _attributes) in zip(opened, spans, strict=True):
            span_context = span.get_span_context()
            traceparents.append(
                f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
                f"{int(span_context.trace_flags):02x}" if span_context.is_valid
                else child_traceparent(parent))
        yield traceparents
    finally:
        for span in opened:
            span.end()


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
