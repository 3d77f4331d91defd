"""GDPR: a person's data never crosses Kafka in plain text, and erasure removes it everywhere.

The search is deliberately blunt: every row of every table of every service database (as text,
and every binary column as bytes), and every byte of every record of every topic.
"""

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from leadloop.events.topology import SERVICES
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import funnel_erased, post_lead, qualified_lead, service_dsn
from tests.support import TopicReader, eventually, topics_holding

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

HANDED_OFF = "leadloop.lead.handed_off.v1"


async def _tables_holding(stack: Stack, needle: str) -> list[str]:
    """`service.table.column` (or `service.table` for a whole row) wherever `needle` occurs."""
    found = []
    for service in SERVICES:
        conn = await asyncpg.connect(service_dsn(stack, service))
        try:
            tables = [r["table_name"] for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")]
            for table in tables:
                # A whole row as text covers every text, json and jsonb column at once.
                if await conn.fetchval(
                        f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE $1',
                        f"%{needle}%"):
                    found.append(f"{service}.{table}")
                for column in [r["column_name"] for r in await conn.fetch(
                        "SELECT column_name FROM information_schema.columns WHERE "
                        "table_schema = 'public' AND table_name = $1 AND data_type = 'bytea'",
                        table)]:
                    if await conn.fetchval(
                            f'SELECT count(*) FROM "{table}" '
                            f'WHERE position($1::bytea in "{column}") > 0',
                            needle.encode()):
                        found.append(f"{service}.{table}.{column}")
        finally:
            await conn.close()
    return found


async def _key_rows(stack: Stack, lead_id: str) -> dict[str, Any]:
    """Each service's lead_keys row for the lead: (has a key, erased) or None."""
    rows = {}
    for service in SERVICES:
        conn = await asyncpg.connect(service_dsn(stack, service))
        try:
            row = await conn.fetchrow(
                "SELECT data_key IS NOT NULL AS has_key, erased_at IS NOT NULL AS erased "
                "FROM lead_keys WHERE lead_id = $1", lead_id)
        finally:
            await conn.close()
        rows[service] = None if row is None else (row["has_key"], row["erased"])
    return rows


async def test_erased_person_is_gone_from_every_database_and_never_readable_in_kafka(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]]) -> None:
    body = qualified_lead()
    email = body["email"].lower()
    capture = stack.url("capture")
    lead_id = await post_lead(http, stack, admin_headers, body)
    # A tracked page whose URL carries the address, as careless campaign links do.
    tracked = await http.post(f"{capture}/v1/activities", headers=admin_headers, json={
        "kind": "pricing_viewed", "lead_id": lead_id,
        "url": f"https://acme.example/pricing?email={email}"})
    assert tracked.status_code == 202, tracked.text

    # The lead qualifies and is handed off; a sales tool with the keys reads the profile.
    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool:
        await sales_tool.wait_for(lambda evs: any(
            e.type == HANDED_OFF and e.subject == lead_id
            and e.data["profile"]["email"] == email for e in evs))

    # Every service holds the lead and its key, but no topic carries the address in clear.
    async def everyone_holds_it() -> None:
        assert all(row == (True, False) for row in (await _key_rows(stack, lead_id)).values())
        holding = {t.split(".")[0] for t in await _tables_holding(stack, email)}
        assert {"capture", "scoring", "handoff", "nurture"} <= holding, holding
        assert await funnel_erased(stack, lead_id) is False, "outcomes counts the lead"
    await eventually(everyone_holds_it)
    assert await topics_holding(stack.bootstrap_servers, email.encode()) == {}

    export = await http.get(f"{capture}/v1/leads/{lead_id}/export", headers=admin_headers)
    assert export.status_code == 200, export.text
    held = export.json()
    assert [lead["email"] for lead in held["leads"]] == [email]
    assert held["leads"][0]["consent"]["email_marketing"] is True
    assert any(a["kind"] == "pricing_viewed" for a in held["activities"])

    erased = await http.delete(f"{capture}/v1/leads/{lead_id}", headers=admin_headers)
    assert erased.status_code == 204, erased.text

    async def forgotten_everywhere() -> None:
        assert await _tables_holding(stack, email) == []
        keys = await _key_rows(stack, lead_id)
        assert keys == {service: (False, True) for service in SERVICES}, keys
        assert await funnel_erased(stack, lead_id) is True
    await eventually(forgotten_everywhere, timeout_s=60)
    assert await topics_holding(stack.bootstrap_servers, email.encode()) == {}

    # The old events are still in Kafka, but even a reader with the key feed cannot open them.
    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool:
        events = await sales_tool.wait_for(lambda evs: any(
            e.type == HANDED_OFF and e.subject == lead_id for e in evs))
    [handed_off] = [e for e in events if e.type == HANDED_OFF and e.subject == lead_id]
    assert handed_off.data["profile"]["email"] == ""
    assert handed_off.data["profile"]["first_name"] is None

    assert (await http.get(f"{capture}/v1/leads/{lead_id}/export",
                           headers=admin_headers)).status_code == 404
    assert (await http.get(f"{capture}/v1/leads/{lead_id}",
                           headers=admin_headers)).status_code == 404
    again = await http.delete(f"{capture}/v1/leads/{lead_id}", headers=admin_headers)
    assert again.status_code == 204, "erasure is idempotent"
    unknown = await http.delete(f"{capture}/v1/leads/{uuid.uuid4()}", headers=admin_headers)
    assert unknown.status_code == 404


async def test_the_same_address_after_erasure_is_a_new_person_with_a_new_key(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    body = qualified_lead()
    first = await post_lead(http, stack, admin_headers, body)
    erased = await http.delete(f"{stack.url('capture')}/v1/leads/{first}", headers=admin_headers)
    assert erased.status_code == 204, erased.text

    second = await post_lead(http, stack, admin_headers, body)
    assert second != first

    async def scored_as_new() -> None:
        keys = await _key_rows(stack, second)
        assert all(row == (True, False) for row in keys.values()), keys
        score = await http.get(f"{stack.url('scoring')}/v1/leads/{second}/score",
                               headers=admin_headers)
        assert score.status_code == 200, score.text
    await eventually(scored_as_new)
    assert all(row == (False, True) for row in (await _key_rows(stack, first)).values())
