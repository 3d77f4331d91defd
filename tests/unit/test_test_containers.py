"""The Kafka container's configuration (no Docker here: the variables are checked as data)."""

from tests.containers import CONTROLLER_PORT, kafka_container_env


def test_the_broker_advertises_the_address_the_host_reaches_it_at() -> None:
    env = kafka_container_env("docker.example", 49200)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://docker.example:49200"
    # the same port inside, so the advertised address is right on both sides of the mapping
    assert "PLAINTEXT://0.0.0.0:49200" in env["KAFKA_LISTENERS"].split(",")


def test_one_node_is_broker_and_its_own_controller() -> None:
    env = kafka_container_env("localhost", 49200)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node}@localhost:{CONTROLLER_PORT}"
    assert f"CONTROLLER://0.0.0.0:{CONTROLLER_PORT}" in env["KAFKA_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    protocol_map = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    protocols = dict(item.split(":") for item in protocol_map.split(","))
    assert protocols == {"PLAINTEXT": "PLAINTEXT", "CONTROLLER": "PLAINTEXT"}


def test_internal_topics_fit_on_one_broker() -> None:
    env = kafka_container_env("localhost", 49200)
    # more replicas than brokers and consumer groups (offsets topic) never form
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
