"""Test infrastructure: the same local stack `make run` starts, once per test run.

Kafka and PostgreSQL come from, in order of preference: KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL
when set; containers when a Docker engine answers (testcontainers); else processes started here
(the embedded PostgreSQL and a local Kafka broker). The five services always run as processes.
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from leadloop.auth import generate_key, hash_key
from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.keys import (
    SALES_PAGE_KEY,
    dev_admin_key,
    dev_secrets,
    sales_page_key_record,
)
from leadloop_devstack.stack import Stack
from tests.containers import containers
from tests.trace_collector import TraceCollector

# One key per scope (and one with a scope nothing requires), for the auth matrix.
KNOWN_SCOPES = ("leads:write", "leads:read", "scores:read", "sales", "nurture:read",
                "nurture:inbound", "deals:write", "reports:read")
SCOPED_KEYS = {scope: generate_key() for scope in (*KNOWN_SCOPES, "nothing")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fuzzing goes last: it creates arbitrary configuration (reps, rules, models) that would
    otherwise change what later tests on the same stack see. Every test in tests/e2e must be
    marked e2e: `make test` (tests/run_suite.sh) splits its lanes by that marker."""
    unmarked = [item.nodeid for item in items
                if item.nodeid.startswith("tests/e2e/") and item.get_closest_marker("e2e") is None]
    if unmarked:
        raise pytest.UsageError("tests in tests/e2e without the e2e marker (pytestmark): "
                                + ", ".join(unmarked))
    items.sort(key=lambda item: "test_api_fuzzing" in item.nodeid)


def _raise_keyboard_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


@pytest.fixture(scope="session")
def external_infrastructure() -> Iterator[dict[str, str]]:
    """Kafka and PostgreSQL not started by the stack: env vars, containers, or nothing."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("DATABASE_URL"):
        yield {}  # StackSettings reads them itself
        return
    if not _docker_engine_answers():
        yield {}
        return
    with containers() as infrastructure:
        yield infrastructure


@pytest.fixture(scope="session")
def trace_collector() -> Iterator[TraceCollector]:
    """Where every service of the test stack exports its spans (OTLP/HTTP)."""
    collector = TraceCollector()
    collector.start()
    yield collector
    collector.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, external_infrastructure: dict[str, str],
          trace_collector: TraceCollector) -> Iterator[Stack]:
    """All five services, Kafka and PostgreSQL, up for the whole test run."""
    home: Path = tmp_path_factory.mktemp("leadloop")
    settings = StackSettings(
        home=home,
        postgres_port=_free_port(),
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
        # The broker's managed-Kafka-like listener (SASL_SSL, SCRAM), for the security test;
        # the services stay on plaintext.
        kafka_sasl_ssl_port=_free_port(),
        smtp_port=_free_port(),  # never the dev stack's 1025: `make test` runs two stacks
        ports={name: _free_port() for name in DEFAULT_PORTS},
        **external_infrastructure,
    )
    # Short SLA and retry settings so failure paths finish within a test's patience.
    service_env = {
        "LEADLOOP_SCORING_CONSUMER_MAX_ATTEMPTS": "3",
        "LEADLOOP_HANDOFF_CONSUMER_MAX_ATTEMPTS": "3",
        # Small import chunks (an import is interrupted mid-way in a test), quick purges.
        "LEADLOOP_CAPTURE_IMPORT_CHUNK_ROWS": "250",
        "LEADLOOP_CAPTURE_IMPORT_RESUME_INTERVAL_S": "1",
        "LEADLOOP_CAPTURE_HOUSEKEEPING_INTERVAL_S": "1",
        # The tests' sales tools and channel adapters listen on this machine: allowed here
        # explicitly, refused by default (webhooks reach only public addresses).
        "LEADLOOP_HANDOFF_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1",
        "LEADLOOP_NURTURE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1",
        # A lead still in the fallback queue alerts its managers again this soon (default 30 min).
        "LEADLOOP_HANDOFF_QUEUE_REALERT_S": "10",
        # No digest of last week at start-up: the digest tests choose their recipients.
        "LEADLOOP_OUTCOMES_DIGEST_RECIPIENTS": "",
    }
    api_keys = (
        [{"name": "dev-admin", "sha256": hash_key(dev_admin_key(home)), "scopes": ["admin"]}]
        + [{"name": f"test-{scope}", "sha256": hash_key(key), "scopes": [scope]}
           for scope, key in SCOPED_KEYS.items()])
    # Handoff's sales page reads timelines from outcomes with the stack's own key for it.
    sales_page = sales_page_key_record(dev_secrets(home)[SALES_PAGE_KEY])
    for name in DEFAULT_PORTS:
        prefix = f"LEADLOOP_{name.upper()}_"
        service_env[f"{prefix}API_KEYS"] = json.dumps(
            api_keys + ([sales_page] if name == "outcomes" else []))
        service_env[f"{prefix}OTLP_TRACES_ENDPOINT"] = trace_collector.endpoint
        service_env[f"{prefix}TRACE_EXPORT_DELAY_MS"] = "200"
    stack = Stack(settings, service_env=service_env)
    # A run stopped with SIGTERM (a CI timeout, `timeout`) still tears the stack down.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        asyncio.run(stack.start())
    except BaseException:
        asyncio.run(stack.stop())
        for log in sorted((home / "logs").glob("*.log")):
            print(f"--- {log.name} (last lines) ---\n" + "\n".join(
                log.read_text(errors="replace").splitlines()[-40:]))
        raise
    print(f"\nstack ready in {stack.timings['ready_s']:.1f}s ({stack.timings})")
    yield stack
    asyncio.run(stack.stop())


@pytest.fixture(scope="session")
def scoped_keys(stack: Stack) -> dict[str, str]:
    """Keys the test stack accepts, one per scope; "nothing" grants no route."""
    return SCOPED_KEYS


@pytest.fixture(scope="session")
def admin_headers(stack: Stack) -> dict[str, str]:
    """Headers carrying the stack's admin key."""
    return {"X-API-Key": stack.admin_key}


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the services' APIs."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
