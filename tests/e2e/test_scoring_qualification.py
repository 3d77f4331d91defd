"""Scoring end to end: activity qualifies a lead once; rejection plus new activity requalifies
it; a new model version is created, compared, activated and every lead re-scored under it."""

import uuid
from typing import Any

import httpx
import pytest

from leadloop.events import CloudEvent
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import active_model, post_lead, qualified_lead
from tests.support import TopicReader, eventually, publish_activity

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

QUALIFIED = "leadloop.lead.qualified.v1"
SCORED = "leadloop.lead.scored.v1"
DISQUALIFIED = "leadloop.lead.disqualified.v1"


async def _score(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                 lead_id: str) -> dict[str, Any]:
    response = await http.get(f"{stack.url('scoring')}/v1/leads/{lead_id}/score",
                              headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _of(events: list[CloudEvent], lead_id: str, kind: str) -> list[CloudEvent]:
    return list({e.id: e for e in events if e.subject == lead_id and e.type == kind}.values())


async def test_activity_qualifies_a_lead_once_and_rejection_then_new_activity_requalifies_it(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]]) -> None:
    # Senior title and 120 staff but a free-mail address: fit 40, grade B, below the 50 needed.
    lead_id = await post_lead(http, stack, admin_headers, {
        "email": f"pat.{uuid.uuid4().hex[:10]}@gmail.com", "job_title": "VP Sales",
        "company_size": 120})

    async def scored_40() -> None:
        score = await _score(http, stack, admin_headers, lead_id)
        assert (score["score"], score["grade"], score["is_mql"]) == (40, "B", False), score
    await eventually(scored_40)

    async with TopicReader(stack.bootstrap_servers, "leadloop.scoring") as reader:
        pricing_event = await publish_activity(stack.bootstrap_servers, lead_id, "page_view",
                                   "https://example.com/pricing")
        events = await reader.wait_for(lambda evs: len(_of(evs, lead_id, QUALIFIED)) == 1)
        qualified = _of(events, lead_id, QUALIFIED)[0].data
        assert qualified["score"] == 62  # 40 + 15 + 2 + 5 (visited in the last 7 days)
        # GET /score names the same causes: rule, model version, points and the event.
        explained = await _score(http, stack, admin_headers, lead_id)
        assert {(c["rule_id"], c["points"], c["event_id"]) for c in explained["contributions"]
                if c["rule_id"].startswith(("engagement.", "intensity."))} == {
            ("engagement.pricing_page", 15, pricing_event),
            ("engagement.page_view", 2, pricing_event),
            ("intensity.recent_visit", 5, pricing_event)}
        assert {(c["rule_id"], c["points"], c["event_id"]) for c in qualified["contributions"]
                if c["rule_id"].startswith(("engagement.", "intensity."))} == {
            ("engagement.pricing_page", 15, pricing_event),
            ("engagement.page_view", 2, pricing_event),
            ("intensity.recent_visit", 5, pricing_event)}

        # More activity while qualified raises the score but does not qualify it again.
        await publish_activity(stack.bootstrap_servers, lead_id, "page_view",
                                   "https://example.com/blog")
        events = await reader.wait_for(lambda evs: any(
            e.data["score"] == 64 for e in _of(evs, lead_id, SCORED)))
        assert len(_of(events, lead_id, QUALIFIED)) == 1

        # Handoff assigned it; the rep rejects it: bad timing.
        handoff = stack.url("handoff")

        async def assigned() -> str:
            r = await http.get(f"{handoff}/v1/leads/{lead_id}/assignment", headers=admin_headers)
            assert r.status_code == 200, r.text
            return str(r.json()["id"])
        assignment_id = await eventually(assigned)
        rejected = await http.post(f"{handoff}/v1/assignments/{assignment_id}/reject",
                                   headers=admin_headers, json={"reason_code": "bad_timing"})
        assert rejected.status_code == 200, rejected.text

        async def rejected_in_scoring() -> None:
            score = await _score(http, stack, admin_headers, lead_id)
            assert score["qualification"] == "rejected", score
        await eventually(rejected_in_scoring)

        # The recycled lead comes back: new activity qualifies it again, exactly once more.
        await publish_activity(stack.bootstrap_servers, lead_id, "page_view",
                                   "https://example.com/docs")
        events = await reader.wait_for(lambda evs: len(_of(evs, lead_id, QUALIFIED)) == 2)
        assert _of(events, lead_id, QUALIFIED)[-1].data["score"] == 66

    score = await _score(http, stack, admin_headers, lead_id)
    assert score["qualification"] == "qualified" and score["is_mql"]
    assert [point["score"] for point in score["history"]] == [40, 62, 64, 66]


async def test_new_version_is_created_compared_activated_and_every_lead_rescored(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    scoring = stack.url("scoring")
    active, config = await active_model(http, stack, admin_headers)
    lead_id = await post_lead(http, stack, admin_headers, {
        "email": f"kim.{uuid.uuid4().hex[:10]}@gmail.com", "properties": {"plan": "Enterprise"}})
    await eventually(lambda: _score(http, stack, admin_headers, lead_id))

    bad = await http.post(f"{scoring}/v1/models", headers=admin_headers, json={
        "name": "broken", "config": {**config, "fit_rules": [
            {"id": "fit.size", "points": 5,
             "when": {"kind": "range", "field": "company_size", "minimum": 10, "maximum": 5}}]}})
    assert bad.status_code == 422
    assert "minimum 10 must be below maximum 5" in bad.text

    plan_rule = {"id": "fit.plan_enterprise", "points": 10,
                 "when": {"kind": "equals", "field": "properties.plan", "value": "enterprise"}}
    created = await http.post(f"{scoring}/v1/models", headers=admin_headers, json={
        "name": "plan matters", "config": {**config, "fit_rules": [*config["fit_rules"],
                                                                   plan_rule]}})
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert created.json()["is_active"] is False

    diff = (await http.get(f"{scoring}/v1/models/{version}/diff", headers=admin_headers)).json()
    assert diff["from_version"] == active
    assert [a["rule"]["id"] for a in diff["added"]] == ["fit.plan_enterprise"]
    assert diff["removed"] == [] and diff["changed"] == [] and diff["settings"] == []

    try:
        activation = await http.post(f"{scoring}/v1/models/{version}/activate",
                                     headers=admin_headers)
        assert activation.status_code == 202, activation.text

        async def rescored() -> None:
            jobs = (await http.get(f"{scoring}/v1/models/{version}/rescore",
                                   headers=admin_headers)).json()["jobs"]
            assert jobs[0]["status"] == "done" and jobs[0]["done"] == jobs[0]["total"], jobs
            score = await _score(http, stack, admin_headers, lead_id)
            assert score["model_version"] == version
            assert [(c["rule_id"], c["points"], c["model_version"])
                    for c in score["contributions"]] == [("fit.plan_enterprise", 10, version)]
        await eventually(rescored, timeout_s=60)
    finally:
        restored = await http.post(f"{scoring}/v1/models/{active}/activate",
                                   headers=admin_headers)
        assert restored.status_code == 202, restored.text

    async def back_on_previous_version() -> None:
        score = await _score(http, stack, admin_headers, lead_id)
        assert (score["model_version"], score["score"]) == (active, 0), score
    await eventually(back_on_previous_version, timeout_s=60)


async def test_a_lead_from_a_competitor_is_disqualified_and_never_qualified(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    scoring = stack.url("scoring")
    active, config = await active_model(http, stack, admin_headers)
    competitor = f"rival-{uuid.uuid4().hex[:8]}.com"
    disqualifiers = [
        {**rule, "when": {**rule["when"], "domains": [*rule["when"]["domains"], competitor]}}
        if rule["when"]["kind"] == "email_domain_in" else rule
        for rule in config["disqualifiers"]]
    assert disqualifiers != config["disqualifiers"]  # the default lists no competitor
    created = await http.post(f"{scoring}/v1/models", headers=admin_headers, json={
        "name": "competitors listed", "activate": True,
        "config": {**config, "disqualifiers": disqualifiers}})
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    try:
        # Everything else about this lead would make it an MQL at once.
        body = {**qualified_lead(), "email": f"spy.{uuid.uuid4().hex[:6]}@eu.{competitor}"}
        async with TopicReader(stack.bootstrap_servers, "leadloop.scoring") as reader:
            lead_id = await post_lead(http, stack, admin_headers, body)
            events = await reader.wait_for(
                lambda evs: bool(_of(evs, lead_id, DISQUALIFIED)) and bool(_of(evs, lead_id,
                                                                             SCORED)))
            disqualified = _of(events, lead_id, DISQUALIFIED)
            assert len(disqualified) == 1
            assert (disqualified[0].data["rule_id"], disqualified[0].data["model_version"]) == (
                "disqualify.competitor", version)
            assert competitor in disqualified[0].data["reason"]
            assert _of(events, lead_id, QUALIFIED) == []
        score = await _score(http, stack, admin_headers, lead_id)
        assert (score["grade"], score["is_mql"], score["qualification"]) == ("A", False, "open")
        assert score["disqualification"]["rule_id"] == "disqualify.competitor"
    finally:
        restored = await http.post(f"{scoring}/v1/models/{active}/activate",
                                   headers=admin_headers)
        assert restored.status_code == 202, restored.text
