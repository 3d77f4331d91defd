"""What an operator relies on, on every service: /healthz, /readyz, /metrics and JSON logs."""

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leadloop.events.topology import CONSUMES
from leadloop_devstack.stack import Stack

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

# The series the README promises, each with the service's own samples (name -> sample suffix).
EVERY_SERVICE = {"leadloop_events_published_total": "", "leadloop_outbox_backlog": "",
                 "leadloop_handler_seconds": "_bucket"}
CONSUMERS_ONLY = {"leadloop_events_consumed_total": "", "leadloop_events_dead_lettered_total": "",
                  "leadloop_consumer_lag": ""}


async def _series(http: httpx.AsyncClient, stack: Stack, service: str) -> set[str]:
    """Names of the samples /metrics shows labelled with `service`."""
    text = (await http.get(f"{stack.url(service)}/metrics")).text
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.labels.get("service") == service}


async def test_every_service_is_alive(stack: Stack, http: httpx.AsyncClient) -> None:
    for name in stack.services:
        r = await http.get(f"{stack.url(name)}/healthz")
        assert (r.status_code, r.json()) == (200, {"status": "ok"}), name


async def test_strict_readiness_reports_kafka_and_the_consumer(
        stack: Stack, http: httpx.AsyncClient) -> None:
    for name in stack.services:
        r = await http.get(f"{stack.url(name)}/readyz", params={"strict": "true"})
        assert r.status_code == 200, (name, r.text)
        checks = r.json()["checks"]
        assert checks["database"] is True and checks["kafka"] is True, (name, checks)
        assert checks.get("consumer") is (True if CONSUMES[name] else None), (name, checks)
        # Plain /readyz (a load balancer's) reports Kafka too, though it waits only for the
        # database.
        assert "kafka" in (await http.get(f"{stack.url(name)}/readyz")).json()["checks"]


async def test_every_promised_series_is_on_every_service(
        stack: Stack, http: httpx.AsyncClient) -> None:
    for name in stack.services:
        promised = {**EVERY_SERVICE, **(CONSUMERS_ONLY if CONSUMES[name] else {})}
        shown = await _series(http, stack, name)
        missing = {f"{metric}{suffix}" for metric, suffix in promised.items()} - shown
        assert not missing, f"{name} /metrics lacks {missing}"


async def test_server_lines_in_service_logs_are_json(stack: Stack) -> None:
    for name in stack.services:
        log = stack.settings.home / "logs" / f"{name}.log"
        server_lines = [line for line in log.read_text(errors="replace").splitlines()
                        if "Application startup complete" in line]
        assert server_lines, f"{log} shows no startup"
        for line in server_lines:
            entry = orjson.loads(line)  # not uvicorn's plain "INFO:     Application ..."
            assert (entry["service"], entry["logger"]) == (name, "uvicorn.error")
