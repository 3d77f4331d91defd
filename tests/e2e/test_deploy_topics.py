"""The local stack's topics carry the partitions and configs every deployment shares
(leadloop.events.topology): event topics kept forever, one-partition dead letters, compacted
keys. The unit tests hold docker-compose.yml and deploy/k8s to the same definition."""

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from leadloop.events.topology import TOPIC_CONFIGS, all_topics, partitions_of, topic_of
from leadloop_devstack.kafka import ensure_topics
from leadloop_devstack.stack import Stack

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
