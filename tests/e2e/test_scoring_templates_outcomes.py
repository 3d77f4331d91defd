"""Through the public APIs of the running stack: a model made from a template; a version gated
on a probability refused activation until trained (409); a lead closed as not converted counted
in the funnel and kept by scoring as a negative outcome; scores of many leads read at once, as
of the last event applied; a country given by name; a bad feature field answered with one
clear 422."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, service_dsn
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_model_from_a_template_and_untrained_probability_gate_is_refused(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    scoring = stack.url("scoring")
    templates = (await http.get(f"{scoring}/v1/models/templates", headers=admin_headers)).json()
    assert {t["name"] for t in templates["templates"]} == {"b2b", "b2c"}
    created = await http.post(f"{scoring}/v1/models", headers=admin_headers,
                              json={"name": "school", "template": "b2c"})
    assert created.status_code == 201, created.text
    b2c = created.json()["config"]
    assert any(rule["measure"] == "time_on_site" for rule in b2c["intensity_rules"])

    gated = {**b2c, "learning": {"features": [
        {"kind": "engagement", "measure": "time_on_site", "window_days": 30},
        {"kind": "categorical", "field": "source.utm_source"}]},
        "mql": {**b2c["mql"], "min_probability": 0.4}}
    refused = await http.post(f"{scoring}/v1/models", headers=admin_headers,
                              json={"name": "gated", "config": gated, "activate": True})
    assert refused.status_code == 409, refused.text
    assert "never been trained" in refused.json()["detail"]
    stored = await http.post(f"{scoring}/v1/models", headers=admin_headers,
                             json={"name": "gated", "config": gated})
    version = stored.json()["version"]
    activation = await http.post(f"{scoring}/v1/models/{version}/activate",
                                 headers=admin_headers)
    assert activation.status_code == 409 and f"/v1/models/{version}/train" in \
        activation.json()["detail"]

    both = await http.post(f"{scoring}/v1/models", headers=admin_headers,
                           json={"name": "x", "template": "b2b", "config": gated})
    assert both.status_code == 422 and "either config" in both.text
    bad_field = {**b2c, "learning": {"features": [{"kind": "categorical",
                                                   "field": "utm_source"}]}}
    unknown = await http.post(f"{scoring}/v1/models", headers=admin_headers,
                              json={"name": "x", "config": bad_field})
    assert unknown.status_code == 422
    assert "did you mean 'source.utm_source'" in unknown.text
    assert "at least 1 item" not in unknown.text
    bad_period = await http.post(
        f"{scoring}/v1/models/{version}/train", headers=admin_headers,
        params={"closed_from": "2026-12-01T00:00:00Z", "closed_to": "2026-11-01T00:00:00Z"})
    assert bad_period.status_code == 422 and "closed_to" in bad_period.text


async def test_closed_lead_counts_in_the_funnel_and_scoring_keeps_it_to_learn(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    outcomes, scoring = stack.url("outcomes"), stack.url("scoring")
    lead_id = await post_lead(http, stack, admin_headers, {
        "email": f"closed.{uuid.uuid4().hex[:8]}@gmail.com", "country": "India"})
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    async def scored() -> None:
        r = await http.get(f"{scoring}/v1/leads/{lead_id}/score", headers=admin_headers)
        assert r.status_code == 200, r.text
    await eventually(scored, timeout_s=60)
    body: dict[str, Any] = {"lead_id": lead_id, "reason": "no_response", "note": "3 calls"}
    first = await http.post(f"{outcomes}/v1/closed-leads", headers=admin_headers, json=body)
    assert first.status_code == 201, first.text
    again = await http.post(f"{outcomes}/v1/closed-leads", headers=admin_headers, json=body)
    assert again.status_code == 200 and again.json() == first.json()
    other = await http.post(f"{outcomes}/v1/closed-leads", headers=admin_headers,
                            json={**body, "reason": "chose_competitor"})
    assert other.status_code == 409 and "closed already" in other.text
    bad = await http.post(f"{outcomes}/v1/closed-leads", headers=admin_headers,
                          json={**body, "reason": "Not Interested!"})
    assert bad.status_code == 422 and "reason" in bad.text
    unscoped = await http.post(f"{outcomes}/v1/closed-leads", json=body)
    assert unscoped.status_code == 401

    async def counted() -> None:
        funnel = (await http.get(f"{outcomes}/v1/funnel", headers=admin_headers,
                                 params={"from": since})).json()
        assert funnel["not_converted"] >= 1, funnel
    await eventually(counted, timeout_s=60)

    async def kept_as_negative_outcome() -> None:
        conn = await asyncpg.connect(service_dsn(stack, "scoring"))
        try:
            row = await conn.fetchrow("SELECT outcome, reason, features FROM deal_outcomes "
                                      "WHERE lead_id = $1", uuid.UUID(lead_id))
        finally:
            await conn.close()
        assert row is not None and (row["outcome"], row["reason"]) == (
            "not_converted", "no_response")
    await eventually(kept_as_negative_outcome, timeout_s=60)


async def test_scores_of_many_leads_are_read_at_once_as_of_their_last_event(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    capture, scoring = stack.url("capture"), stack.url("scoring")
    run = uuid.uuid4().hex[:8]
    leads = [await post_lead(http, stack, admin_headers, {"email": f"bulk{i}.{run}@gmail.com"})
             for i in range(3)]
    at = datetime.now(UTC).replace(microsecond=0)
    activity = await http.post(f"{capture}/v1/activities", headers=admin_headers, json={
        "kind": "webinar_attended", "lead_id": leads[0], "occurred_at": at.isoformat()})
    assert activity.status_code in (200, 201, 202), activity.text
    unknown = str(uuid.uuid4())

    async def as_of_the_activity() -> dict[str, Any]:
        r = await http.post(f"{scoring}/v1/scores:lookup", headers=admin_headers,
                            json={"lead_ids": [*leads, unknown]})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert [s["lead_id"] for s in body["scores"]] == leads
        first = body["scores"][0]
        assert first["last_event"]["type"] == "leadloop.lead.activity.v1"
        assert datetime.fromisoformat(first["last_event"]["occurred_at"]) == at
        return body
    body = await eventually(as_of_the_activity, timeout_s=60)
    assert body["not_found"] == [unknown]
    assert body["scores"][1]["last_event"]["type"] == "leadloop.lead.created.v1"
    detail = (await http.get(f"{scoring}/v1/leads/{leads[0]}/score",
                             headers=admin_headers)).json()
    assert any(c["rule_id"] == "engagement.webinar_attended" for c in detail["contributions"])
    too_many = await http.post(f"{scoring}/v1/scores:lookup", headers=admin_headers,
                               json={"lead_ids": [unknown] * 1001})
    assert too_many.status_code == 422
    unscoped = await http.post(f"{scoring}/v1/scores:lookup", json={"lead_ids": leads})
    assert unscoped.status_code == 401


async def test_country_by_name_is_stored_as_its_code_and_a_bad_one_lists_the_codes(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    capture = stack.url("capture")
    lead_id = await post_lead(http, stack, admin_headers, {
        "email": f"in.{uuid.uuid4().hex[:8]}@gmail.com", "country": "India"})
    lead = (await http.get(f"{capture}/v1/leads/{lead_id}", headers=admin_headers)).json()
    assert lead["profile"]["country"] == "IN"
    bad = await http.post(f"{capture}/v1/leads", headers=admin_headers, json={
        "email": f"xx.{uuid.uuid4().hex[:8]}@gmail.com", "country": "Indai"})
    assert bad.status_code == 422
    assert "country" in bad.text and "IN, IO" in bad.text
