"""Operators list, inspect, replay and purge dead letters; a replayed event is handled anew."""

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from leadloop.db import UnitOfWork
from leadloop.dead_letters import (
    get_dead_letter,
    list_dead_letters,
    purge_dead_letters,
    replay_dead_letter,
)
from leadloop.events import CloudEvent
from tests.integration.conftest import Sandbox
from tests.integration.test_consumer_runner import (
    _effect_count,
    _erased_event,
    _record_effect,
    _Running,
    _send,
    producer,  # noqa: F401 - the fixture
)
from tests.support import eventually

pytestmark = pytest.mark.asyncio


async def test_fixed_bug_lets_a_replayed_dead_letter_through_and_purge_empties_the_dlq(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:  # noqa: F811
    broken = {"yes": True}
    event = _erased_event(sandbox.service)

    async def handler(uow: UnitOfWork, data: Any, envelope: CloudEvent) -> None:
        if broken["yes"]:
            raise RuntimeError("template missing")
        await _record_effect(uow, data, envelope)

    await _send(producer, sandbox.topic, event)
    async with _Running(sandbox, producer, handler):
        async def parked() -> list:
            letters = await list_dead_letters(sandbox.bootstrap_servers, sandbox.service)
            assert [letter.event_id for letter in letters] == [event.id]
            return letters
        [letter] = await eventually(parked)
        assert letter.error_type == "RuntimeError" and letter.error == "template missing"
        assert letter.source_topic == sandbox.topic and letter.lead_id == event.subject
        detail = (await get_dead_letter(sandbox.bootstrap_servers, sandbox.service,
                                        letter.offset))
        assert detail is not None and event.id in str(detail.detail()["headers"])

        broken["yes"] = False  # the bug is fixed; the operator replays
        await replay_dead_letter(producer, letter)

        async def handled() -> None:
            assert await _effect_count(sandbox, event_id=event.id) == 1
        await eventually(handled)

    await purge_dead_letters(sandbox.bootstrap_servers, sandbox.service, letter.offset + 1)
    assert await list_dead_letters(sandbox.bootstrap_servers, sandbox.service) == []
