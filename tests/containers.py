"""Kafka and PostgreSQL in containers, for test runs where a Docker engine answers.

Kafka is the Apache image run as a generic container: testcontainers' KafkaContainer only
knows Confluent's images (its KRaft mode refuses tags below 7.0.0, and its start script is
Confluent's), and this image is configured with KAFKA_* variables instead (KIP-975: each names a
server property, `listeners` -> KAFKA_LISTENERS). Setting any of them replaces the image's
defaults, so the whole single-node KRaft configuration is spelled out here.
"""

import socket
from collections.abc import Iterator
from contextlib import contextmanager

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:17"
# The controller listens inside the container only; nothing outside talks to it.
CONTROLLER_PORT = 9093


def kafka_container_env(host: str, port: int, partitions: int = 12) -> dict[str, str]:
    """A single KRaft node (broker and its own controller) that clients reach at host:port.

    The broker listens on the same port number inside the container as the host maps, so the
    address it advertises works from the host and from the broker itself.
    """
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://0.0.0.0:{CONTROLLER_PORT}",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{host}:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{CONTROLLER_PORT}",
        # One broker: internal topics cannot have more than one replica.
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_NUM_PARTITIONS": str(partitions),
        # Consumer groups form at once instead of after the default 3 s wait.
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def containers() -> Iterator[dict[str, str]]:
    """Start PostgreSQL and Kafka; yield the StackSettings fields that point at them."""
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    port = _free_port()
    kafka = DockerContainer(KAFKA_IMAGE).with_bind_ports(port, port)
    # Where the engine publishes ports (localhost, or DOCKER_HOST's host); known before start,
    # which the advertised listener needs.
    host = kafka.get_docker_client().host()
    kafka.with_envs(**kafka_container_env(host, port))
    # KafkaBroker.STARTED_MESSAGE, logged once the broker serves requests (the stack then also
    # waits until the API answers).
    kafka.waiting_for(LogMessageWaitStrategy("Kafka Server started"))
    with PostgresContainer(POSTGRES_IMAGE, driver=None) as pg, kafka:
        yield {"database_url": pg.get_connection_url(),
               "kafka_bootstrap_servers": f"{host}:{port}"}
