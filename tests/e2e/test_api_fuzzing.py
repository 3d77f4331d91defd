"""Every endpoint fuzzed from its OpenAPI document (schemathesis): never a 5xx, and every
response matches the documented schema."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadloop.events.topology import SERVICES
from leadloop_devstack.stack import Stack

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 20
TIMEOUT_S = 600


def _fuzz(stack: Stack, service: str, report: Path) -> subprocess.Popen[bytes]:
    """schemathesis against one service, writing its report to `report`."""
    with report.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "schemathesis.cli", "run",
             f"{stack.url(service)}/openapi.json",
             "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
             "--max-examples", str(MAX_EXAMPLES), "--header", f"X-API-Key: {stack.admin_key}",
             "--phases", "coverage,fuzzing", "--seed", "20261123", "--no-color",
             # The read-model rebuild takes no input to fuzz; each call replays every topic
             # from the start (seconds on this session's history) while reports wait for it.
             # Its own e2e test (test_outcomes_reports) and the auth matrix cover it.
             "--exclude-path", "/v1/read-model/rebuild",
             "--request-timeout", "20"],
            stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def fuzzing(stack: Stack, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Path]]]:
    """Every service's fuzzing, started together: each schemathesis process spends most of its
    time generating cases in Python, one core's worth, so side by side the five take about
    half as long as one after the other. Each service is fuzzed alone, so what one run creates
    (reps, rules, models) never meets another's requests but as events, as it would in turn."""
    reports = tmp_path_factory.mktemp("fuzzing")
    runs = {service: (_fuzz(stack, service, reports / f"{service}.txt"),
                      reports / f"{service}.txt") for service in SERVICES}
    yield runs
    for process, _report in runs.values():
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("service", SERVICES)
def test_service_survives_schema_driven_fuzzing(
        fuzzing: dict[str, tuple[subprocess.Popen[bytes], Path]], service: str) -> None:
    process, path = fuzzing[service]
    returncode = process.wait(timeout=TIMEOUT_S)
    report = path.read_text(errors="replace")
    failures = report.find("FAILURES")  # each failure with its reproduction, when there are any
    print(report[failures:failures + 12_000] if failures >= 0 else report[-3_000:])
    assert returncode == 0, report[failures:failures + 4_000] if failures >= 0 else report
