"""Logging, trace context and metrics: JSON logs that name the event, the lead and the trace."""

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from prometheus_client import Counter, Gauge, Histogram

from leadloop.events.envelope import trace_id_of

_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)
_event_id: ContextVar[str | None] = ContextVar("event_id", default=None)
_lead_id: ContextVar[str | None] = ContextVar("lead_id", default=None)


def current_traceparent() -> str | None:
    """The trace context of the request or event being handled, if any."""
    return _traceparent.get()


def bind_context(*, traceparent: str | None = None, event_id: str | None = None,
                 lead_id: str | None = None) -> None:
    """Set what logs and newly published events inherit for the work now in progress."""
    _traceparent.set(traceparent)
    _event_id.set(event_id)
    _lead_id.set(lead_id)


_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_QUERY_VALUE = re.compile(r"=[^&]*")


def redact(text: str) -> str:
    """`text` with email addresses replaced: logs outlive an erasure, so no log line may hold
    one (an error's message can quote a stored value)."""
    return _EMAIL.sub("<email>", text)


def redact_query(path: str) -> str:
    """A request path with its query values replaced (the parameter names stay)."""
    path_only, question, query = path.partition("?")
    return path_only + question + _QUERY_VALUE.sub("=<redacted>", query) if question else path


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the event, lead and trace being worked on."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as a JSON line, with personal data kept out (see `redact`)."""
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) \
                and len(record.args) >= 3 and isinstance(record.args[2], str):
            # The request line's query may hold personal values (?email=...): keep the names.
            record.args = (*record.args[:2], redact_query(record.args[2]), *record.args[3:])
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "event_id": _event_id.get(),
            "lead_id": _lead_id.get(),
            "trace_id": trace_id_of(_traceparent.get()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps({k: v for k, v in entry.items() if v is not None}).decode()


# uvicorn configures these with plain-text handlers of their own (and no propagation) before it
# imports the app; left alone they would interleave text lines with the JSON ones.
ACCESS_LOGGER = "uvicorn.access"
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", ACCESS_LOGGER)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as JSON, the server's own records included."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        # uvicorn's --no-access-log leaves uvicorn.access with no handler and no propagation,
        # and its protocol logs a request only when the logger has a handler somewhere: turning
        # propagation on would bring back a line per request the operator switched off.
        switched_off = name == ACCESS_LOGGER and not server_logger.handlers \
            and not server_logger.propagate
        server_logger.handlers.clear()
        server_logger.propagate = not switched_off
        # A dictConfig/fileConfig run earlier in the process (alembic's env.py does one) disables
        # every logger that existed then; the server's records must still come through.
        server_logger.disabled = False
    # aiokafka logs every reconnect attempt at ERROR while a broker restarts; WARNING is plenty.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


EVENTS_CONSUMED = Counter(
    "leadloop_events_consumed_total", "Events handled by a consumer", ["service", "type"]
)
EVENTS_DUPLICATE = Counter(
    "leadloop_events_duplicate_total", "Redelivered events skipped by the inbox", ["service"]
)
EVENTS_PUBLISHED = Counter(
    "leadloop_events_published_total", "Outbox rows published to Kafka", ["service", "topic"]
)
EVENTS_DEAD_LETTERED = Counter(
    "leadloop_events_dead_lettered_total", "Events parked in the dead-letter topic",
    ["service", "type"],
)
HANDLER_SECONDS = Histogram(
    "leadloop_handler_seconds", "Time to handle one batch of events", ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BACKGROUND_TASK_RESTARTS = Counter(
    "leadloop_background_task_restarts_total",
    "Background tasks (relay, consumer, key feed, workers) that died and were restarted",
    ["service", "task"],
)
WORKER_ERRORS = Counter(
    "leadloop_worker_errors_total",
    "Rounds of a background worker (timers, schedulers, purges) that failed and were retried",
    ["service", "worker"],
)
OUTBOX_BACKLOG = Gauge("leadloop_outbox_backlog", "Outbox rows not yet published", ["service"])
CONSUMER_LAG = Gauge(
    "leadloop_consumer_lag", "Records behind the end of the log", ["service", "topic"]
)


def declare_series(service: str, published_topic: str, consumed_topics: list[str],
                   handled_types: list[str]) -> None:
    """Create the service's series at zero before anything happens, so /metrics lists them from
    the start: a series that appears only with its first event breaks rate() and alerts on
    "no dead letters yet" (absent, not 0)."""
    EVENTS_PUBLISHED.labels(service, published_topic)
    OUTBOX_BACKLOG.labels(service)
    HANDLER_SECONDS.labels(service)
    for event_type in handled_types:
        EVENTS_CONSUMED.labels(service, event_type)
        EVENTS_DEAD_LETTERED.labels(service, event_type)
    if handled_types:
        EVENTS_DUPLICATE.labels(service)
        for topic in consumed_topics:
            CONSUMER_LAG.labels(service, topic)
