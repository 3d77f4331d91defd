"""Service logs: one JSON object per line naming the event, the lead and the trace."""

import io
import logging
import sys
from collections.abc import Iterator

import orjson
import pytest

from leadloop.observability import JsonFormatter, bind_context, configure_logging

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _record(message: str = "handled", level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("leadloop.consumer", level, __file__, 1, message, (), None)


def test_a_line_names_the_event_lead_and_trace_being_worked_on() -> None:
    bind_context(event_id="evt-1", lead_id="lead-1", traceparent=TRACEPARENT)
    try:
        line = JsonFormatter("scoring").format(_record("scored %s"))
    finally:
        bind_context()
    entry = orjson.loads(line)
    assert entry["event_id"] == "evt-1"
    assert entry["lead_id"] == "lead-1"
    assert entry["trace_id"] == TRACE_ID
    assert (entry["service"], entry["level"], entry["logger"]) == (
        "scoring", "INFO", "leadloop.consumer")


def test_fields_without_a_value_are_left_out() -> None:
    bind_context()
    entry = orjson.loads(JsonFormatter("capture").format(_record()))
    assert not {"event_id", "lead_id", "trace_id"} & entry.keys()


def test_a_traceback_stays_inside_the_json_line() -> None:
    try:
        raise KeyError("boom")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter("handoff").format(record)
    assert "\n" not in line
    assert "KeyError: 'boom'" in orjson.loads(line)["exc"]


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    servers = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate,
                      logging.getLogger(name).disabled, logging.getLogger(name).level)
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for name, (handlers, propagate, disabled, level) in servers.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate
        logging.getLogger(name).disabled = disabled
        logging.getLogger(name).setLevel(level)


def test_the_servers_own_records_are_json_too(
        monkeypatch: pytest.MonkeyPatch, logging_restored: None) -> None:
    # What uvicorn sets up before it imports the app: its own plain-text handler, no propagation,
    # and the levels of its --log-level (info by default; another test's in-process server may
    # have left "warning" behind, which is the operator's choice configure_logging keeps).
    uvicorn_error = logging.getLogger("uvicorn.error")
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.INFO)
    plain = io.StringIO()
    uvicorn_error.addHandler(logging.StreamHandler(plain))
    logging.getLogger("uvicorn.access").addHandler(logging.StreamHandler(plain))
    logging.getLogger("uvicorn").propagate = False
    logging.getLogger("uvicorn.access").propagate = False
    uvicorn_error.disabled = True  # what an earlier logging.config.dictConfig leaves behind
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)

    configure_logging("nurture")
    uvicorn_error.info("Started server process [%d]", 42)
    logging.getLogger("uvicorn.access").info("GET /healthz 200")

    lines = [orjson.loads(line) for line in stderr.getvalue().splitlines()]
    assert [(e["logger"], e["msg"]) for e in lines] == [
        ("uvicorn.error", "Started server process [42]"), ("uvicorn.access", "GET /healthz 200")]
    assert plain.getvalue() == ""


def test_no_access_log_keeps_requests_out_of_the_log(
        monkeypatch: pytest.MonkeyPatch, logging_restored: None) -> None:
    # What uvicorn's --no-access-log (the local stack's and the images' command) leaves behind.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.setLevel(logging.INFO)
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)

    configure_logging("capture")
    logging.getLogger("uvicorn.error").warning("still said")

    # uvicorn writes an access line only when the logger has a handler somewhere.
    assert not access.hasHandlers()
    assert [orjson.loads(line)["msg"] for line in stderr.getvalue().splitlines()] == ["still said"]


def test_an_access_line_keeps_the_query_names_but_not_their_values() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/v1/leads?email=jane%40acme.com&x=1",
                                "1.1", 200), None)
    message = orjson.loads(JsonFormatter("capture").format(record))["msg"]
    assert "jane" not in message
    assert "/v1/leads?email=<redacted>&x=<redacted>" in message


def test_an_error_quoting_a_stored_email_does_not_log_it() -> None:
    try:
        raise ValueError('duplicate key: Key (email)=(jane.doe@acme-corp.com) already exists')
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1,
                                   "insert failed for %s", ("jane.doe@acme-corp.com",), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter("capture").format(record)
    assert "jane.doe" not in line
    assert "<email>" in orjson.loads(line)["msg"]
