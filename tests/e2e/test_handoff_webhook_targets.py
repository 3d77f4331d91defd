"""Webhook subscribers on internal addresses are refused (422 naming url); the test stack
allows only loopback, through LEADLOOP_HANDOFF_WEBHOOK_ALLOWED_NETWORKS."""

import httpx
import pytest

from leadloop_devstack.stack import Stack

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.e2e]

INTERNAL = ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1:8080/",
            "http://192.168.0.1/", "http://[fd00::1]/", "http://metadata.invalid/"]


@pytest.mark.parametrize("url", INTERNAL)
async def test_subscriber_on_an_internal_address_is_refused(
        stack: Stack, admin_headers: dict[str, str], url: str) -> None:
    handoff = stack.url("handoff")
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(f"{handoff}/v1/webhooks", headers=admin_headers,
                                  json={"name": "probe", "url": url})
        assert created.status_code == 422, created.text
        assert created.json()["errors"][0]["field"] == "url"

        ok = await http.post(f"{handoff}/v1/webhooks", headers=admin_headers,
                             json={"name": "local", "url": "http://127.0.0.1:9/hook"})
        assert ok.status_code == 201, ok.text
        moved = await http.patch(f"{handoff}/v1/webhooks/{ok.json()['id']}",
                                 headers=admin_headers, json={"url": url, "enabled": False})
        assert moved.status_code == 422, moved.text
        assert moved.json()["errors"][0]["field"] == "url"
        await http.patch(f"{handoff}/v1/webhooks/{ok.json()['id']}", headers=admin_headers,
                         json={"enabled": False})
