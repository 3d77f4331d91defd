"""GDPR: logs outlive an erasure, so no service ever writes a person's address into one."""

import uuid

import httpx
import pytest

from leadloop.events import CloudEvent
from leadloop.kafka import close_producer, create_producer
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import funnel_erased, post_lead
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


def _logs(stack: Stack) -> dict[str, str]:
    folder = stack.settings.home / "logs"
    return {path.name: path.read_text(errors="replace") for path in folder.glob("*.log")}


async def test_an_erased_persons_address_is_in_no_service_log(
        stack: Stack, http: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    email = f"logged.{uuid.uuid4().hex[:10]}@privacy-logs.com"
    lead_id = await post_lead(http, stack, admin_headers, {"email": email, "company_size": 50})
    capture = stack.url("capture")
    found = await http.get(f"{capture}/v1/leads", params={"email": email}, headers=admin_headers)
    assert found.status_code == 200
    # A malformed event quoting the address (a buggy producer): every consumer of capture's
    # topic dead-letters it and logs why, the invalid input included.
    broken = CloudEvent(type="leadloop.lead.updated.v1", source="capture", subject=lead_id,
                        data={"lead_id": lead_id, "profile": {"company_size": email}})
    producer = create_producer(stack.bootstrap_servers, "privacy-logs-test")
    await producer.start()
    try:
        key, value, headers = broken.to_kafka()
        await producer.send_and_wait("leadloop.capture", value=value, key=key, headers=headers)
    finally:
        await close_producer(producer)

    async def dead_lettered_and_logged() -> None:
        logs = _logs(stack)
        assert broken.id in logs.get("scoring.log", ""), "scoring has not parked it yet"
        assert broken.id in logs.get("nurture.log", ""), "nurture has not parked it yet"
    await eventually(dead_lettered_and_logged, timeout_s=60)

    erased = await http.delete(f"{capture}/v1/leads/{lead_id}", headers=admin_headers)
    assert erased.status_code == 204, erased.text

    async def erased_everywhere() -> None:
        assert await funnel_erased(stack, lead_id) is True
    await eventually(erased_everywhere, timeout_s=60)

    holding = [name for name, text in _logs(stack).items() if email.lower() in text.lower()]
    assert holding == [], f"the erased address is still in {holding}"
