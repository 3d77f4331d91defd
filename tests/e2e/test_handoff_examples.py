"""The sales-tool examples the README points to (services/handoff/examples) run against the
stack: the Kafka reader decrypts a hand-off's personal fields with the lead's key, and the
webhook receiver verifies LeadLoop's signatures and refuses a forged message."""

import asyncio
import importlib.util
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead
from tests.support import eventually, local_webhook_receiver

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

EXAMPLES = Path(__file__).resolve().parents[2] / "services" / "handoff" / "examples"
HANDED_OFF = "leadloop.lead.handed_off.v1"


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_kafka_example_reads_hand_offs_with_personal_fields_decrypted(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]]) -> None:
    example = _example("kafka_sales_tool")
    lead = qualified_lead()
    lead_id = await post_lead(http, stack, admin_headers, lead)
    hand_offs = example.hand_offs(stack.bootstrap_servers, f"example-crm-{uuid.uuid4().hex[:8]}")

    async def ours() -> dict[str, Any]:
        async for event in hand_offs:
            if event["lead_id"] == lead_id:
                return dict(event)
        raise AssertionError("the topic ended")

    try:
        event = await asyncio.wait_for(ours(), timeout=60)
    finally:
        await hand_offs.aclose()
    assert event["profile"]["email"] == lead["email"].lower()
    assert (event["profile"]["first_name"], event["profile"]["last_name"]) == ("Jane", "Doe")
    assert event["profile"]["phone"] == "+49301234567"
    assert event["consent"]["email_marketing"] is True
    assert event["rep"] is not None and event["routing_reason"]
    assert event["score"] >= 50 and event["contributions"]
    assert event["sla_deadline"] is not None and event["event_id"]


async def test_webhook_example_verifies_signatures_and_refuses_a_forgery(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]]) -> None:
    example = _example("webhook_sales_tool")
    hooks = type("Hooks", (example.SalesToolHooks,), {"handled": {}, "secret": ""})
    with local_webhook_receiver(hooks) as url:
        created = await http.post(f"{stack.url('handoff')}/v1/webhooks", headers=admin_headers,
                                  json={"name": "example crm", "url": url,
                                        "event_types": [HANDED_OFF]})
        assert created.status_code == 201, created.text
        subscriber = created.json()
        hooks.secret = subscriber["secret"]
        try:
            lead_id = await post_lead(http, stack, admin_headers, qualified_lead())

            async def handled() -> dict[str, Any]:
                messages = [m for m in hooks.handled.values() if m["data"]["lead_id"] == lead_id]
                assert len(messages) == 1
                return dict(messages[0])

            message = await eventually(handled, timeout_s=60)
            assert message["type"] == HANDED_OFF and message["data"]["rep"] is not None

            forged = await http.post(url, content=b'{"type": "x", "data": {"lead_id": "y"}}',
                                     headers={"webhook-id": "msg_forged",
                                              "webhook-timestamp": str(int(time.time())),
                                              "webhook-signature": "v1,AAAA"})
            assert forged.status_code == 400
            assert "msg_forged" not in hooks.handled
        finally:
            await http.patch(f"{stack.url('handoff')}/v1/webhooks/{subscriber['id']}",
                             headers=admin_headers, json={"enabled": False})
