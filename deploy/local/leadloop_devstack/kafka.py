"""A real Apache Kafka broker (KRaft, single node) whose jars Maven resolves from Maven Central.

The pom under deploy/kafka names the broker version. Maven caches the jars in ~/.m2; we keep the
resolved classpath next to the data, keyed by the pom's hash, so a warm start runs no Maven.
"""

import asyncio
import base64
import hashlib
import logging
import os
import re
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from leadloop.connections import KafkaAddress, KafkaConnection
from leadloop.events.topology import TOPIC_CONFIGS, partitions_of
from leadloop.kafka import create_admin
from leadloop_devstack.config import REPO_ROOT
from leadloop_devstack.processes import kill, terminate
from leadloop_devstack.tls import BrokerTls, make_broker_tls

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
# Kafka 4 brokers need Java 17.
MIN_JAVA = 17
LOG4J_CONFIG = REPO_ROOT / "deploy" / "kafka" / "log4j2.yaml"


def resolve_classpath(cache_dir: Path) -> str:
    """The broker's classpath, resolved by Maven once per pom version."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cached = cache_dir / f"classpath-{digest}.txt"
    if not cached.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(POM), "dependency:build-classpath",
             "-Dmdep.includeScope=runtime", f"-Dmdep.outputFile={partial}"],
            text=True, capture_output=True,
        )
        if result.returncode != 0 or not partial.exists():
            raise RuntimeError(f"Maven could not resolve Kafka's jars:\n{result.stdout}\n"
                               f"{result.stderr}")
        partial.rename(cached)
    return cached.read_text().strip()


def java_major_version(version_output: str) -> int | None:
    """The major version in `java -version`'s output: "17.0.9" -> 17, "25" -> 25, and the old
    scheme "1.8.0_392" -> 8. None when the output names no version."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_java() -> None:
    """Fail, naming the version found, unless `java` is Java 17 or newer."""
    try:
        result = subprocess.run(["java", "-version"], capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(f"Java {MIN_JAVA}+ is needed for the local Kafka broker; no `java` "
                           "on the PATH") from None
    output = (result.stderr or result.stdout).strip()
    major = java_major_version(output)
    if major is None or major < MIN_JAVA:
        first_line = output.splitlines()[0] if output else "no output"
        raise RuntimeError(f"Java {MIN_JAVA}+ is needed for the local Kafka broker; `java` is "
                           f"Java {major if major is not None else '?'} ({first_line})")


@dataclass(frozen=True)
class SaslSslListener:
    """The opt-in listener that behaves like a managed Kafka: TLS with a throwaway CA, and
    SCRAM-SHA-256/512 logins for one user. PLAINTEXT stays for the broker's own use."""

    port: int
    username: str = "leadloop"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))


class LocalKafka:
    """One broker that is also its own KRaft controller; data in `home/kafka`."""

    def __init__(self, home: Path, host: str, port: int, controller_port: int,
                 partitions: int, jvm_options: str = "",
                 sasl_ssl: SaslSslListener | None = None) -> None:
        self.dir = home / "kafka"
        self.data = self.dir / "data"
        self.log = home / "logs" / "kafka.log"
        self.host = host
        self.port = port
        self.controller_port = controller_port
        self.partitions = partitions
        self.jvm_options = jvm_options.split()
        self.process: subprocess.Popen[bytes] | None = None
        self.sasl_ssl = sasl_ssl
        self.tls: BrokerTls | None = None

    def secure_connection(self, mechanism: str = "SCRAM-SHA-512", ca_file: Path | None = None
                          ) -> KafkaConnection:
        """How a client reaches the SASL_SSL listener (SCRAM, the CA made at start)."""
        if self.sasl_ssl is None:
            raise RuntimeError("this broker has no SASL_SSL listener")
        ca = ca_file or (self.tls.ca_file if self.tls else None)
        return KafkaConnection(
            f"{self.host}:{self.sasl_ssl.port}", security_protocol="SASL_SSL",
            sasl_mechanism=mechanism, sasl_username=self.sasl_ssl.username,
            sasl_password=self.sasl_ssl.password, ssl_cafile=str(ca) if ca else None)

    @property
    def bootstrap_servers(self) -> str:
        """host:port of the broker."""
        return f"{self.host}:{self.port}"

    def _secure_properties(self) -> tuple[str, str, list[str]]:
        """The SASL_SSL listener's (listener, protocol map entry, settings), or nothing."""
        if self.sasl_ssl is None:
            return "", "", []
        self.tls = make_broker_tls(self.dir / "tls", self.host)
        prefix = "listener.name.sasl_ssl"
        jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required;')
        return (f",SASL_SSL://{self.host}:{self.sasl_ssl.port}", ",SASL_SSL:SASL_SSL", [
            "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
            f"{prefix}.scram-sha-256.sasl.jaas.config={jaas}",
            f"{prefix}.scram-sha-512.sasl.jaas.config={jaas}",
            f"{prefix}.ssl.keystore.type=PKCS12",
            f"{prefix}.ssl.keystore.location={self.tls.keystore}",
            f"{prefix}.ssl.keystore.password={self.tls.keystore_password}",
            f"{prefix}.ssl.key.password={self.tls.keystore_password}",
        ])

    def _write_properties(self) -> Path:
        path = self.dir / "server.properties"
        listener, protocol, secure = self._secure_properties()
        path.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
            f"listeners=PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{self.controller_port}{listener}",
            f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}{listener}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            + protocol,
            *secure,
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.data}",
            f"num.partitions={self.partitions}",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=12",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # One node: nobody else will join, so don't wait for members before the first
            # rebalance.
            "group.initial.rebalance.delay.ms=0",
            # Compacted topics (the lead keys) are cleaned soon after a record is superseded.
            "log.cleaner.backoff.ms=1000",
            "",
        ]))
        return path

    def start(self, classpath: str) -> None:
        """Format storage on first use, start the broker, and wait until it answers."""
        check_java()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        properties = self._write_properties()
        java = ["java", "-cp", classpath, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}"]
        if not (self.data / "meta.properties").exists():
            cluster_id = _cluster_id()
            # The SCRAM user is stored with the cluster's metadata when it is formatted.
            scram = [] if self.sasl_ssl is None else [
                arg for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512") for arg in (
                    "--add-scram", f"{mechanism}=[name={self.sasl_ssl.username},"
                                   f"password={self.sasl_ssl.password}]")]
            result = subprocess.run([*java, "kafka.tools.StorageTool", "format",
                                     # "=" form: a random id may begin with "-"
                                     f"--cluster-id={cluster_id}", "-c", str(properties),
                                     *scram],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError("formatting Kafka's storage failed: "
                                   + (result.stderr or result.stdout)[-2000:])
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            # C1 only (TieredStopAtLevel=1): on a 2-core machine C2's compiling took half the
            # broker's CPU in a benchmark minute (P3: 2.5 vs 1.4 ms of broker CPU per lead; idle
            # 0.66 vs 0.08 CPU-s/s in the first minute), more than its faster code saves here.
            [*java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
             *self.jvm_options, "kafka.Kafka", str(properties)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "KAFKA_HEAP_OPTS": ""},
        )
        log.close()

    async def wait_ready(self, timeout_s: float = 120) -> None:
        """Return once the broker serves metadata requests (generous for a busy machine: see
        ServiceProcess.wait_ready)."""
        await wait_for_kafka(self.bootstrap_servers, timeout_s, self.process)

    def stop(self, timeout_s: float = 15) -> None:
        """Controlled shutdown (SIGTERM), or SIGKILL after `timeout_s`."""
        terminate(self.process, timeout_s)

    def kill(self) -> None:
        """Stop the broker abruptly, as a crash would."""
        kill(self.process)


def _cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes in URL-safe base64 without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


async def wait_for_kafka(bootstrap_servers: KafkaAddress, timeout_s: float,
                         process: "subprocess.Popen[bytes] | None" = None) -> None:
    """Poll until a broker at `bootstrap_servers` answers, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    # aiokafka logs every refused connection at ERROR while the broker boots: not news here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Kafka exited with code {process.returncode}; see its log")
        admin = create_admin(bootstrap_servers, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await admin.close()


async def ensure_topics(bootstrap_servers: KafkaAddress, topics: list[str], partitions: int
                        ) -> None:
    """Create the topics that do not exist yet; give those that do their TOPIC_CONFIGS."""
    admin = create_admin(bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions_of(t, partitions), 1,
                            topic_configs=TOPIC_CONFIGS.get(t, {}))
                   for t in topics if t not in existing]
        # Topics an older version made (e.g. event topics with the default 7-day retention):
        # AlterConfigs replaces a topic's settings with exactly these.
        stale = [ConfigResource(ConfigResourceType.TOPIC, t, TOPIC_CONFIGS[t])
                 for t in topics if t in existing and t in TOPIC_CONFIGS]
        for response in await admin.alter_configs(stale) if stale else []:
            for error_code, message, _, name in response.resources:
                if error_code:
                    raise RuntimeError(f"setting the configs of topic {name} failed: {message}")
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
        # Topics exist before their partitions have leaders; producing then can stall, so
        # services start only once every partition has one.
        deadline = time.monotonic() + 30
        while not _all_led(await admin.describe_topics(topics)):
            if time.monotonic() > deadline:
                raise TimeoutError("Kafka partitions got no leader within 30s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def _all_led(described: list[dict[str, Any]]) -> bool:
    return all(t["error_code"] == 0 and t["partitions"]
               and all(p["leader"] >= 0 for p in t["partitions"]) for t in described)
