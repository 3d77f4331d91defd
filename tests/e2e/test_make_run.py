"""`make run` itself: `python -m leadloop_devstack run` as a developer runs it, stopped by Ctrl-C.

The run is pointed at existing servers, as the README's "Using existing Kafka and PostgreSQL"
describes: the test session's PostgreSQL (under a database prefix of its own, so the session's
databases are untouched) and a Kafka broker this test starts. Not the session's broker: topic
names and consumer groups are fixed per service, so a second stack there would join the session
services' groups, take half their partitions and handle their events (and they its).
"""

import asyncio
import json
import os
import re
import signal
import socket
import sys
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from leadloop.events.topology import DEAD_LETTER_PARTITIONS, all_topics
from leadloop_devstack.config import DEFAULT_PORTS, REPO_ROOT
from leadloop_devstack.kafka import LocalKafka, resolve_classpath
from leadloop_devstack.keys import KEY_VARIABLE
from leadloop_devstack.postgres import admin_dsn
from leadloop_devstack.stack import Stack
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(900)]

# The README's "Two commands" section, verbatim.
README_REP = {"name": "Ann", "email": "ann@example.com", "capacity": 50}
README_LEAD = {"email": "jane@acme-corp.com", "job_title": "VP Marketing", "company_size": 200}
HANDED_OFF = "leadloop.lead.handed_off.v1"
TOPIC_PARTITIONS = 12
UP = "Press Ctrl-C to stop."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """Nothing listens on `port`. With SO_REUSEADDR, as every server binds: connections the
    kernel still holds in TIME_WAIT after a clean close (the SMTP sink closes each session it
    served) are no process holding the port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Run:
    """One `python -m leadloop_devstack run` process and what it printed."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def read_until(self, marker: str, timeout_s: float) -> None:
        """Collect stdout until a line holds `marker`; fail with the output so far."""
        assert self.process.stdout is not None
        async def read() -> None:
            while not any(marker in line for line in self.lines):
                line = await self.process.stdout.readline()  # type: ignore[union-attr]
                assert line, f"exited ({self.process.returncode}) before {marker!r}:\n{self.output}"
                self.lines.append(line.decode().rstrip("\n"))
        try:
            await asyncio.wait_for(read(), timeout_s)
        except TimeoutError:
            pytest.fail(f"no {marker!r} within {timeout_s}s:\n{self.output}")

    def descendants(self) -> list[psutil.Process]:
        """Every process the run started (the services start sessions of their own, but stay
        its children)."""
        return psutil.Process(self.process.pid).children(recursive=True)

    async def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the terminal's process group, i.e. the run's own group."""
        os.killpg(self.process.pid, signal.SIGINT)
        await self.read_until("Stopped.", timeout_s=120)
        return await asyncio.wait_for(self.process.wait(), 30)

    async def abandon(self) -> None:
        """After a failed check: stop it (Ctrl-C) without judging how."""
        if self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.communicate(), 120)
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Setup:
    home: Path
    ports: dict[str, int]
    env: dict[str, str]
    bootstrap_servers: str

    async def start(self) -> Run:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "leadloop_devstack", "run", cwd=REPO_ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
        run = Run(process)
        await run.read_until(UP, timeout_s=400)
        return run


@pytest_asyncio.fixture(scope="module")
async def existing_kafka(stack: Stack, tmp_path_factory: pytest.TempPathFactory
                         ) -> AsyncIterator[str]:
    """A broker that is running before `make run` starts, as an existing cluster would be."""
    home = tmp_path_factory.mktemp("existing-kafka")
    kafka = LocalKafka(home, "127.0.0.1", _free_port(), _free_port(), TOPIC_PARTITIONS)
    # The session stack's cache when it resolved one; Maven's ~/.m2 otherwise.
    classpath = await asyncio.to_thread(resolve_classpath, stack.settings.home / "kafka")
    await asyncio.to_thread(kafka.start, classpath)
    try:
        await kafka.wait_ready()
        yield kafka.bootstrap_servers
    finally:
        await asyncio.to_thread(kafka.stop)


@pytest_asyncio.fixture
async def setup(stack: Stack, existing_kafka: str, tmp_path: Path) -> AsyncIterator[Setup]:
    prefix = f"mr{uuid.uuid4().hex[:8]}_"
    ports = {name: _free_port() for name in DEFAULT_PORTS}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LEADLOOP_") and k not in ("DATABASE_URL",
                                                           "KAFKA_BOOTSTRAP_SERVERS")}
    env.update({
        "LEADLOOP_STACK_HOME": str(tmp_path / ".leadloop"),
        "LEADLOOP_STACK_PORTS": json.dumps(ports),
        "LEADLOOP_STACK_SMTP_PORT": "0",
        "LEADLOOP_STACK_DATABASE_URL": stack.settings.server_url(),
        "LEADLOOP_STACK_DATABASE_PREFIX": prefix,
        "LEADLOOP_STACK_KAFKA_BOOTSTRAP_SERVERS": existing_kafka,
        "PYTHONUNBUFFERED": "1",
    })
    yield Setup(tmp_path / ".leadloop", ports, env, existing_kafka)
    # Tidying up, not under test: a failure here is reported, not raised.
    try:
        conn = await asyncpg.connect(admin_dsn(stack.settings.server_url()))
        try:
            for name in DEFAULT_PORTS:
                await conn.execute(f'DROP DATABASE IF EXISTS "{prefix}{name}" WITH (FORCE)')
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        warnings.warn(f"databases {prefix}* were left on the test server: {exc!r}",
                      stacklevel=1)


def _printed(output: str) -> tuple[dict[str, str], str, str]:
    """(service -> URL, Kafka's address, the admin key) from the run's banner."""
    urls = dict(re.findall(r"^  (\w+)\s+(http://\S+)\s+\(docs: ", output, re.MULTILINE))
    kafka = re.findall(r"^  kafka\s+(\S+)$", output, re.MULTILINE)
    key = re.findall(rf"^  {KEY_VARIABLE}=(\S+)$", output, re.MULTILINE)
    assert len(kafka) == 1 and len(key) == 1, output
    return urls, kafka[0], key[0]


async def test_make_run_serves_the_readme_lead_stops_on_ctrl_c_and_keeps_data(
        setup: Setup) -> None:
    run = await setup.start()
    try:
        urls, kafka, key = _printed(run.output)
        assert urls == {name: f"http://127.0.0.1:{port}" for name, port in setup.ports.items()}
        assert kafka == setup.bootstrap_servers
        assert (setup.home / "dev-keys.env").read_text().splitlines()[-1] == f"{KEY_VARIABLE}={key}"
        mail = re.findall(r"^  smtp\s+127\.0\.0\.1:(\d+)\s+\(a sink: mail sent to it is kept "
                          r"in (\S+),", run.output, re.MULTILINE)
        assert mail and Path(mail[0][1]) == setup.home / "mail", run.output

        # Given existing servers, it runs neither PostgreSQL nor a broker of its own.
        children = run.descendants()
        commands = [" ".join(p.cmdline()) for p in children]
        assert not [c for c in commands if "postgres" in c.split()[0] or "java" in c], commands
        assert "postgres  " not in run.output
        assert not (setup.home / "postgres").exists() and not (setup.home / "kafka").exists()

        # The README's two curl commands, then what a sales tool reads from Kafka.
        headers = {"X-API-Key": key}
        async with httpx.AsyncClient(timeout=30) as http:
            rep = await http.post(f"{urls['handoff']}/v1/reps", json=README_REP, headers=headers)
            assert rep.status_code == 201, rep.text
            lead = await http.post(f"{urls['capture']}/v1/leads", json=README_LEAD,
                                   headers=headers)
            assert lead.status_code in (200, 201), lead.text
        lead_id = lead.json()["lead_id"]
        async with TopicReader(kafka, "leadloop.handoff") as sales_tool:
            events = await sales_tool.wait_for(lambda evs: any(
                e.type == HANDED_OFF and e.subject == lead_id for e in evs), timeout_s=120)
        handed_off = next(e for e in events if e.type == HANDED_OFF and e.subject == lead_id)
        # What the README promises for this lead.
        assert (handed_off.data["score"], handed_off.data["grade"]) == (55, "A")
        assert handed_off.data["rep"]["name"] == "Ann"
        assert handed_off.data["profile"]["email"] == "jane@acme-corp.com"
        # `make run` created the topics on the existing broker, partitioned as deployments are.
        assert await _partition_counts(kafka) == _expected_partitions()
    except BaseException:
        await run.abandon()
        raise

    # Ctrl-C: a clean exit, and nothing it started is left running or holding a port.
    assert await run.interrupt() == 0, run.output
    assert [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert [port for port in setup.ports.values() if not _port_is_free(port)] == []
    assert _port_is_free(int(mail[0][0]))

    # A second `make run` keeps the data.
    again = await setup.start()
    try:
        assert _printed(again.output)[2] == key  # the same admin key, too
        async with httpx.AsyncClient(timeout=30) as http:
            stored = await http.get(f"{urls['capture']}/v1/leads/{lead_id}", headers=headers)
        assert stored.status_code == 200, stored.text
        assert stored.json()["profile"]["email"] == "jane@acme-corp.com"
    except BaseException:
        await again.abandon()
        raise
    assert await again.interrupt() == 0, again.output


async def _partition_counts(bootstrap_servers: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(all_topics())
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described}


def _expected_partitions() -> dict[str, int]:
    return {topic: DEAD_LETTER_PARTITIONS if topic.endswith(".dlq") else TOPIC_PARTITIONS
            for topic in all_topics()}


async def test_the_stack_creates_every_topic_with_its_partitions(stack: Stack) -> None:
    # Twelve partitions: the most consumer replicas a group can use; one for each dead-letter
    # topic, so failures are listed in the order they happened.
    async def created() -> dict[str, int]:
        counts = await _partition_counts(stack.bootstrap_servers)
        assert counts == _expected_partitions()
        return counts
    await eventually(created)
