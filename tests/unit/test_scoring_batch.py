"""Applying a batch of profiles and activities: each lead's events in order, the same outcome
as one event at a time; old profiles, known activities, erased and merged leads, recycling."""

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from leadloop.events.models import Consent, LeadProfile, LeadQualified, LeadScored, LeadSource
from scoring.leads.batch import (
    LEAD_CREATED,
    ActivitySeen,
    BatchOutcome,
    LeadInput,
    LeadState,
    ProfileSeen,
    activities_to_store,
    apply_batch,
    survivor_ids,
)
from scoring.models.templates import DEFAULT_MODEL_CONFIG
from scoring.rules.domain import Activity, Qualification, ScoringModel, StoredLead

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MODEL = ScoringModel(version=1, config=DEFAULT_MODEL_CONFIG)
# Fit 40 (senior title, 120 staff, free mail): grade B, 10 short of the MQL threshold.
PROFILE = LeadProfile(email="pat@gmail.com", job_title="VP Sales", company_size=120)


def _form(lead_id: uuid.UUID, days_ago: float = 0, activity_id: uuid.UUID | None = None,
          event_id: str | None = None) -> ActivitySeen:
    return ActivitySeen(lead_id, Activity(
        activity_id=activity_id or uuid.uuid4(), kind="form_submitted",
        occurred_at=NOW - timedelta(days=days_ago), event_id=event_id or uuid.uuid4().hex))


def _profile(lead_id: uuid.UUID, days_ago: float = 0, email: str = PROFILE.email,
             source: LeadSource | None = None) -> ProfileSeen:
    return ProfileSeen(lead_id, PROFILE.model_copy(update={"email": email}), Consent(),
                       NOW - timedelta(days=days_ago), uuid.uuid4().hex, source)


def _states(*leads: StoredLead, activities: dict[uuid.UUID, list[Activity]] | None = None,
            ) -> dict[uuid.UUID, LeadState]:
    return {lead.lead_id: LeadState(lead, {}, list((activities or {}).get(lead.lead_id, [])))
            for lead in leads}


def _run(inputs: list[LeadInput], states: dict[uuid.UUID, LeadState]) -> BatchOutcome:
    """Store the batch's activities as the database would (a known id inserts nothing), then
    apply it."""
    known = {a.activity_id for state in states.values() for a in state.activities}
    leads = {lead_id: state.lead for lead_id, state in states.items()}
    new = {a.activity_id for _, a, _ in activities_to_store(inputs, leads)} - known
    return apply_batch(inputs, states, new, MODEL, None, NOW)


def _one_at_a_time(inputs: list[LeadInput],
                   states: dict[uuid.UUID, LeadState]) -> BatchOutcome:
    """Each event in its own batch, the state (activities stored included) carried over."""
    total = BatchOutcome()
    for seen in inputs:
        outcome = _run([seen], states)
        for state in states.values():
            state.changed = False
        total.rows |= outcome.rows
        total.history += outcome.history
        total.events += outcome.events
    return total


def _dump(outcome: BatchOutcome) -> tuple[Any, ...]:
    return (outcome.rows, outcome.history, [e.model_dump() for e in outcome.events])


def test_a_mixed_batch_gives_the_same_rows_history_and_events_as_one_event_at_a_time() -> None:
    new, rejected, survivor = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    duplicate, erased = uuid.uuid4(), uuid.uuid4()
    repeated = uuid.uuid4()
    leads = (
        StoredLead(lead_id=new),
        StoredLead(lead_id=rejected, profile=PROFILE, profile_at=NOW - timedelta(days=3),
                   score=50, fit_score=40, engagement_score=10, grade="B", is_mql=True,
                   model_version=1, qualification=Qualification.rejected,
                   rejected_at=NOW - timedelta(days=1)),
        StoredLead(lead_id=survivor, profile=PROFILE, profile_at=NOW - timedelta(days=3),
                   score=40, fit_score=40, engagement_score=0, grade="B", model_version=1),
        StoredLead(lead_id=duplicate, merged_into=survivor),
        StoredLead(lead_id=erased, erased=True),
    )
    old_form = _form(rejected, days_ago=2).activity
    inputs: list[LeadInput] = [
        _form(new, activity_id=repeated),  # before the lead's profile: stored, not scored
        _profile(new, source=LeadSource(channel="form")),
        _form(new, activity_id=repeated),  # the same activity again: nothing new
        _profile(new, days_ago=1, email="older@gmail.com"),  # older than the one kept
        _form(rejected),  # after the rejection: recycles it
        _form(duplicate),  # for the survivor
        _form(erased),
        _form(new),
        _profile(rejected),
    ]
    batch_states = _states(*leads, activities={rejected: [old_form]})
    single_states = copy.deepcopy(batch_states)

    batch = _run(inputs, batch_states)
    single = _one_at_a_time(inputs, single_states)

    assert _dump(batch) == _dump(single)
    assert sorted(batch.rows, key=str) == sorted([new, rejected, survivor], key=str)
    assert batch.rows[new]["profile"]["email"] == PROFILE.email
    assert batch.rows[new]["source"] == {**LeadSource(channel="form").model_dump(mode="json")}
    assert (batch.rows[new]["score"], batch.rows[survivor]["score"]) == (60, 50)
    qualified = [e.lead_id for e in batch.events if isinstance(e, LeadQualified)]
    assert sorted(qualified, key=str) == sorted([new, rejected, survivor], key=str)


def test_a_profile_older_than_the_stored_one_is_not_kept() -> None:
    lead = StoredLead(lead_id=uuid.uuid4(), profile=PROFILE, profile_at=NOW, score=40,
                      fit_score=40, engagement_score=0, grade="B", model_version=1)
    outcome = _run([_profile(lead.lead_id, days_ago=1, email="old@gmail.com")], _states(lead))
    assert _dump(outcome) == ({}, [], [])


def test_a_known_activity_or_a_second_delivery_in_the_batch_scores_nothing() -> None:
    lead = StoredLead(lead_id=uuid.uuid4(), profile=PROFILE, profile_at=NOW, score=40,
                      fit_score=40, engagement_score=0, grade="B", model_version=1)
    known = _form(lead.lead_id)
    states = _states(lead, activities={lead.lead_id: [known.activity]})
    assert _dump(_run([known], states)) == ({}, [], [])

    again = _form(lead.lead_id)
    outcome = _run([again, _form(lead.lead_id, activity_id=again.activity.activity_id)],
                   _states(lead))
    assert [type(e) for e in outcome.events] == [LeadScored, LeadQualified]
    assert outcome.rows[lead.lead_id]["score"] == 50


def test_lead_qualified_carries_when_capture_created_the_lead() -> None:
    created, updated_only = uuid.uuid4(), uuid.uuid4()
    creation = ProfileSeen(created, PROFILE, Consent(), NOW - timedelta(days=2), uuid.uuid4().hex,
                           LeadSource(channel="form"), LEAD_CREATED)
    inputs: list[LeadInput] = [creation, _form(created), _profile(created),
                               _profile(updated_only), _form(updated_only)]
    outcome = _run(inputs, _states(StoredLead(lead_id=created), StoredLead(lead_id=updated_only)))

    times = {e.lead_id: e.lead_created_at for e in outcome.events if isinstance(e, LeadQualified)}
    # Handoff measures speed to lead from it; a lead scoring saw no lead.created of has none.
    assert times == {created: NOW - timedelta(days=2), updated_only: None}
    assert outcome.rows[created]["created_at"] == NOW - timedelta(days=2)
    assert "created_at" not in outcome.rows[updated_only]


def test_a_lead_qualifies_once_however_many_activities_the_batch_brings() -> None:
    lead = StoredLead(lead_id=uuid.uuid4(), profile=PROFILE, profile_at=NOW, score=40,
                      fit_score=40, engagement_score=0, grade="B", model_version=1)
    outcome = _run([_form(lead.lead_id) for _ in range(3)], _states(lead))
    assert [type(e) for e in outcome.events] == [LeadScored, LeadQualified, LeadScored,
                                                 LeadScored]
    assert [h.score for _, h, _, _ in outcome.history] == [50, 60, 70]
    assert outcome.rows[lead.lead_id]["qualification"] == "qualified"


def test_an_activity_for_a_merged_duplicate_is_stored_and_scored_for_the_survivor() -> None:
    survivor = StoredLead(lead_id=uuid.uuid4(), profile=PROFILE, profile_at=NOW, score=40,
                          fit_score=40, engagement_score=0, grade="B", model_version=1)
    duplicate = StoredLead(lead_id=uuid.uuid4(), merged_into=survivor.lead_id)
    seen = _form(duplicate.lead_id)
    leads = {duplicate.lead_id: duplicate}
    assert survivor_ids([seen], leads) == {survivor.lead_id}
    assert activities_to_store([seen], leads) == [
        (survivor.lead_id, seen.activity, duplicate.lead_id)]
    outcome = _run([seen], _states(survivor, duplicate))
    assert list(outcome.rows) == [survivor.lead_id]
    assert {e.lead_id for e in outcome.events} == {survivor.lead_id}


def test_events_of_an_erased_lead_are_ignored() -> None:
    erased = StoredLead(lead_id=uuid.uuid4(), erased=True)
    inputs: list[LeadInput] = [_profile(erased.lead_id), _form(erased.lead_id)]
    assert activities_to_store(inputs, {erased.lead_id: erased}) == []
    assert _dump(_run(inputs, _states(erased))) == ({}, [], [])


def test_an_activity_older_than_the_decay_window_is_stored_but_counts_nothing() -> None:
    lead = StoredLead(lead_id=uuid.uuid4())
    inputs: list[LeadInput] = [_form(lead.lead_id, days_ago=200), _profile(lead.lead_id)]
    assert len(activities_to_store(inputs, {lead.lead_id: lead})) == 1
    outcome = _run(inputs, _states(lead))
    assert (outcome.rows[lead.lead_id]["score"], outcome.rows[lead.lead_id]["is_mql"]) == (
        40, False)


def test_an_activity_before_the_profile_counts_once_the_profile_arrives() -> None:
    lead = StoredLead(lead_id=uuid.uuid4())
    form = _form(lead.lead_id)
    outcome = _run([form, _profile(lead.lead_id)], _states(lead))
    assert [type(e) for e in outcome.events] == [LeadScored, LeadQualified]
    assert outcome.history[0][2] != form.activity.event_id  # scored by the profile's event
    assert outcome.rows[lead.lead_id]["score"] == 50
