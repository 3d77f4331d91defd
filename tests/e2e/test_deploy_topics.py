"""The topics every deployment creates carry the partitions and configs of
leadloop.events.topology (event topics kept forever, one-partition dead letters, compacted keys):
the local stack's, and those of docker-compose.yml's kafka-topics step (the script deploy/k8s's
leadloop-topics Job runs too), run here with the image's kafka-topics.sh and kafka-configs.sh
against a real broker. The unit tests hold the deployments' topic lists to the same definition."""

import asyncio
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from leadloop.events.topology import (
    KEYS_TOPIC,
    TOPIC_CONFIGS,
    all_topics,
    dead_letter_topic_of,
    partitions_of,
    topic_of,
)
from leadloop_devstack.kafka import ensure_topics
from leadloop_devstack.stack import Stack
from tests.support.deploy import COMPOSE_FILE, REPO

KAFKA_CLI_POM = REPO / "deploy" / "compose" / "kafka-cli" / "pom.xml"

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _configs(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's configs as the broker reports them (set ones and defaults)."""
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        for error_code, message, _, name, entries, *_ in response.resources:
            assert error_code == 0, f"{name}: {message}"
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


def _admin(stack: Stack) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)


async def test_stack_topics_have_the_topology_partitions_and_configs(stack: Stack) -> None:
    admin = _admin(stack)
    await admin.start()
    try:
        described: list[dict[str, Any]] = await admin.describe_topics(all_topics())
        partitions = {t["topic"]: len(t["partitions"]) for t in described}
        assert partitions == {t: partitions_of(t, stack.settings.topic_partitions)
                              for t in all_topics()}
        configs = await _configs(admin, all_topics())
        for topic in all_topics():
            wanted = TOPIC_CONFIGS[topic]
            assert {k: configs[topic][k] for k in wanted} == wanted, topic
        assert configs[topic_of("capture")]["retention.ms"] == "-1"  # kept forever
    finally:
        await admin.close()


async def test_stack_start_gives_an_existing_topic_its_configs(stack: Stack) -> None:
    # A topic an older version created with the broker's 7-day retention: the next start of the
    # stack (ensure_topics) sets it to keep every record again.
    topic = topic_of("outcomes")
    admin = _admin(stack)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                  {"retention.ms": "604800000"})])
        assert (await _configs(admin, [topic]))[topic]["retention.ms"] == "604800000"
        await ensure_topics(stack.bootstrap_servers, all_topics(),
                            stack.settings.topic_partitions)
        after = (await _configs(admin, [topic]))[topic]
        assert {k: after[k] for k in TOPIC_CONFIGS[topic]} == TOPIC_CONFIGS[topic]
    finally:
        await admin.close()


def _kafka_cli(folder: Path) -> Path:
    """kafka-topics.sh and kafka-configs.sh as the apache/kafka image runs them (same classes,
    same version), on jars Maven resolves from deploy/compose/kafka-cli/pom.xml."""
    classpath = folder / "classpath.txt"
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(KAFKA_CLI_POM), "dependency:build-classpath",
         "-Dmdep.includeScope=runtime", f"-Dmdep.outputFile={classpath}"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for tool, main in (("kafka-topics.sh", "org.apache.kafka.tools.TopicCommand"),
                       ("kafka-configs.sh", "kafka.admin.ConfigCommand")):
        script = folder / tool
        script.write_text(f'#!/bin/sh\nexec java -cp "{classpath.read_text().strip()}" '
                          f'{main} "$@"\n')
        script.chmod(0o755)
    return folder


async def test_compose_topic_step_creates_topics_with_their_configs_on_a_real_broker(
        stack: Stack, tmp_path: Path) -> None:
    step = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["kafka-topics"]
    script = step["command"][0].replace("$$", "$")  # compose's escape for a literal $
    # One topic of each kind, under a prefix of this test's own, so the stack's stay untouched.
    prefix = f"deploytest{secrets.token_hex(4)}."
    specs = {s.split(":", 1)[0]: s for s in step["environment"]["LEADLOOP_TOPICS"].split()}
    chosen = [topic_of("capture"), dead_letter_topic_of("scoring"), KEYS_TOPIC]
    env = {**{k: str(v) for k, v in step["environment"].items()},
           "KAFKA_BOOTSTRAP": stack.bootstrap_servers, "PATH": os.environ["PATH"],
           "KAFKA_BIN": str(await asyncio.to_thread(_kafka_cli, tmp_path))}

    async def run(topics: list[str]) -> None:
        result = await asyncio.to_thread(
            subprocess.run, ["/bin/sh", "-c", script], capture_output=True, text=True,
            timeout=300, env={**env, "LEADLOOP_TOPICS": " ".join(prefix + specs[t]
                                                                for t in topics)})
        assert result.returncode == 0, result.stdout + result.stderr

    admin = _admin(stack)
    await admin.start()
    try:
        await run(chosen)
        await run(chosen[-1:])  # again, on a topic that exists: idempotent
        described = await admin.describe_topics([prefix + t for t in chosen])
        assert {t["topic"]: len(t["partitions"]) for t in described} == {
            prefix + t: partitions_of(t) for t in chosen}
        configs = await _configs(admin, [prefix + t for t in chosen])
        for topic in chosen:
            wanted = TOPIC_CONFIGS[topic]
            assert {k: configs[prefix + topic][k] for k in wanted} == wanted, topic
    finally:
        await admin.delete_topics([prefix + t for t in chosen])
        await admin.close()
