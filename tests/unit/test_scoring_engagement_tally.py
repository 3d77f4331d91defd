"""The incremental engagement tally decides exactly what a full recomputation decides.

Random models from the templates (negative points, caps, period caps, URL filters, decay or
none, every intensity measure), random activity sequences (equal times, out of order, outside
the window, after `now`), several leads with profiles interleaved: the tally's contributions,
and a batch's rows, history and events, equal those of recomputing from every activity.
"""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scoring.leads.batch as batch_module
from leadloop.events.models import Consent, LeadProfile, ScoreContribution
from scoring.leads.batch import ActivitySeen, LeadInput, LeadState, ProfileSeen, apply_batch
from scoring.leads.kept import Kept, KeptActivities
from scoring.models.templates import TEMPLATES
from scoring.rules.activities import Activity
from scoring.rules.domain import (
    Qualification,
    ScoringModel,
    StoredLead,
    engagement_contributions,
)
from scoring.rules.model_config import (
    Decay,
    EngagementRule,
    IntensityBand,
    IntensityRule,
    PeriodCap,
    ScoringModelConfig,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KINDS = ("page_view", "form_submitted", "email_opened", "webinar_attended")
URLS = (None, "https://x.com/pricing?utm=a", "https://x.com/docs/a", "https://y.org/PRICING",
        "/blog/intro")
NUMBER = "video_seconds"


@st.composite
def engagement_rules(draw: st.DrawFn) -> list[EngagementRule]:
    rules = []
    for n in range(draw(st.integers(0, 4))):
        repeatable = draw(st.booleans())
        rules.append(EngagementRule(
            id=f"extra.{n}", activity_kind=draw(st.sampled_from(KINDS)),
            url_contains=draw(st.sampled_from((None, "/pricing", "docs"))),
            url_pattern=draw(st.sampled_from((None, r"x\.com/", r"^/blog"))),
            points=draw(st.integers(-30, 30).filter(bool)), repeatable=repeatable,
            cap=draw(st.sampled_from((None, 1, 7, 25))) if repeatable else None,
            period_cap=draw(st.sampled_from((None, PeriodCap(points=3, days=1),
                                             PeriodCap(points=10, days=0.5))))
            if repeatable else None))
    return rules


@st.composite
def intensity_rules(draw: st.DrawFn, window: int) -> list[IntensityRule]:
    rules = []
    for n in range(draw(st.integers(0, 4))):
        measure = draw(st.sampled_from(("time_on_site", "visits", "days_since_last", "sum",
                                        "count")))
        attribute = NUMBER if measure == "sum" else \
            draw(st.sampled_from((None, NUMBER, "seconds_on_page"))) if measure == "count" \
            else None
        rules.append(IntensityRule(
            id=f"intensity.extra.{n}", measure=measure, attribute=attribute,
            window_days=draw(st.integers(1, window)),
            activity_kind=draw(st.sampled_from((None, *KINDS))),
            url_contains=draw(st.sampled_from((None, "x.com"))),
            bands=(IntensityBand(below=1, points=draw(st.integers(-5, 5))),
                   IntensityBand(at_least=1, below=60, points=draw(st.integers(-9, 9))),
                   IntensityBand(at_least=60, points=draw(st.integers(-20, 20))))))
    return rules


@st.composite
def models(draw: st.DrawFn) -> ScoringModel:
    """A template, with its engagement rules shuffled and trimmed, extra rules, and decay."""
    config: ScoringModelConfig = TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))][0]
    window = draw(st.sampled_from((2, 30, 365)))
    kept = [r for r in config.engagement_rules if draw(st.booleans())]
    intensity = [r for r in config.intensity_rules if r.window_days <= window
                 and draw(st.booleans())]
    return ScoringModel(draw(st.integers(1, 9)), config.model_copy(update={
        "engagement_rules": (*kept, *draw(engagement_rules())),
        "intensity_rules": (*intensity, *draw(intensity_rules(window))),
        "decay": Decay(half_life_days=draw(st.sampled_from((None, 0.5, 14.0, 30.0))),
                       window_days=window),
    }))


@st.composite
def activities(draw: st.DrawFn) -> Activity:
    # Whole hours make equal times common; a few lie ahead of `now` or outside every window.
    hours = draw(st.one_of(st.integers(-3, 24 * 40), st.sampled_from((0, 1, 1, 24 * 400))))
    return Activity(
        activity_id=uuid.uuid4(), kind=draw(st.sampled_from(KINDS)),
        occurred_at=NOW - timedelta(hours=hours, minutes=draw(st.sampled_from((0, 0, 20)))),
        url=draw(st.sampled_from(URLS)), event_id=uuid.uuid4().hex,
        seconds=draw(st.sampled_from((None, 0.0, 12.5, 45.0, 400.0))),
        numbers=draw(st.sampled_from((None, {NUMBER: 30.0}, {NUMBER: 0.1}))))


SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(model=models(), loaded=st.lists(activities(), max_size=25),
       arriving=st.lists(activities(), max_size=25))
def test_the_tally_gives_the_full_recomputation_after_every_activity(
        model: ScoringModel, loaded: list[Activity], arriving: list[Activity]) -> None:
    tally = batch_module.EngagementTally(model, NOW, loaded)
    seen = list(loaded)
    assert tally.contributions() == engagement_contributions(model, seen, NOW)
    for activity in arriving:
        tally.add(activity)
        seen.append(activity)
        assert tally.contributions() == engagement_contributions(model, seen, NOW)


class Recomputed:
    """Today's way, as the reference: every rescore recomputes from every activity."""

    def __init__(self, model: ScoringModel, now: datetime,
                 activities: list[Activity] = []) -> None:  # noqa: B006 (never changed)
        self.model, self.now, self.activities = model, now, list(activities)

    def add(self, activity: Activity) -> None:
        self.activities.append(activity)

    def contributions(self) -> list[ScoreContribution]:
        return engagement_contributions(self.model, self.activities, self.now)


PROFILES = (LeadProfile(email="pat@acme-corp.com", job_title="VP Sales", company_size=120),
            LeadProfile(email="kim@gmail.com", job_title="Student", phone="+3312345678"),
            LeadProfile(email="lee@bench.io", company_size=10, first_name="Lee"))


@st.composite
def batches(draw: st.DrawFn,
            leads: dict[uuid.UUID, tuple[StoredLead, list[Activity]]] | None = None,
            ) -> tuple[dict[uuid.UUID, tuple[StoredLead, list[Activity]]], list[LeadInput]]:
    """A few leads (some with a profile and history, one with a score and MQL already) and a
    batch of their activities with profiles interleaved (for `leads`, if given)."""
    if leads is not None:
        return leads, draw(_inputs(leads))
    leads = {}
    for n in range(draw(st.integers(1, 4))):
        lead_id = uuid.UUID(int=n + 1)
        profiled = draw(st.booleans())
        lead = StoredLead(lead_id=lead_id, profile=draw(st.sampled_from(PROFILES))
                          if profiled else None, consent=Consent() if profiled else None,
                          profile_at=NOW - timedelta(days=5) if profiled else None,
                          profile_event_id="created" if profiled else None)
        if profiled and draw(st.booleans()):  # scored and qualified already
            lead = replace(lead, score=55, fit_score=40, engagement_score=15, grade="B",
                           is_mql=True, model_version=1, qualification=Qualification.qualified)
        leads[lead_id] = (lead, draw(st.lists(activities(), max_size=12)))
    return leads, draw(_inputs(leads))


@st.composite
def _inputs(draw: st.DrawFn, leads: dict[uuid.UUID, tuple[StoredLead, list[Activity]]],
            ) -> list[LeadInput]:
    inputs: list[LeadInput] = []
    for _ in range(draw(st.integers(1, 40))):
        lead_id = draw(st.sampled_from(sorted(leads)))
        if draw(st.integers(0, 9)) == 0:
            inputs.append(ProfileSeen(lead_id, draw(st.sampled_from(PROFILES)), Consent(),
                                      NOW - timedelta(hours=draw(st.integers(0, 200))),
                                      uuid.uuid4().hex))
        else:
            inputs.append(ActivitySeen(lead_id, draw(activities())))
    return inputs


def _apply(model: ScoringModel, leads: dict[uuid.UUID, tuple[StoredLead, list[Activity]]],
           inputs: list[LeadInput]) -> tuple[Any, ...]:
    states = {lead_id: LeadState(lead, {}, list(history))
              for lead_id, (lead, history) in leads.items()}
    new = {seen.activity.activity_id for seen in inputs if isinstance(seen, ActivitySeen)}
    outcome = apply_batch(inputs, states, new, model, None, NOW)
    return (outcome.rows, [(lead_id, score, event_id, at)
                           for lead_id, score, event_id, at in outcome.history],
            [(type(e).__name__, e.model_dump(mode="json")) for e in outcome.events])


@SETTINGS
@given(model=models(), batch=batches())
def test_a_batch_writes_and_publishes_what_recomputing_every_rescore_does(
        model: ScoringModel,
        batch: tuple[dict[uuid.UUID, tuple[StoredLead, list[Activity]]], list[LeadInput]],
) -> None:
    leads, inputs = batch
    incremental = _apply(model, leads, inputs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_module, "EngagementTally", Recomputed)
        patch.setattr(LeadState, "judge", lambda self, model: None)  # fit recomputed too
        recomputed = _apply(model, leads, inputs)
    assert incremental == recomputed


@SETTINGS
@given(model=models(), loaded=st.lists(activities(), max_size=25),
       arriving=st.lists(activities(), max_size=12),
       later=st.lists(st.integers(0, 24 * 40), min_size=1, max_size=3),
       arriving_later=st.lists(activities(), max_size=12))
def test_a_tally_moved_to_later_times_gives_the_full_recomputation_there(
        model: ScoringModel, loaded: list[Activity], arriving: list[Activity],
        later: list[int], arriving_later: list[Activity]) -> None:
    """What the scoring consumer keeps between batches: a lead's tally, moved to each next
    batch's time (decay, windows and explanations at that time), then given more activities."""
    tally = batch_module.EngagementTally(model, NOW, loaded)
    seen = [*loaded, *arriving]
    for activity in arriving:
        tally.add(activity)
    now = NOW
    for hours in sorted(later):
        now = NOW + timedelta(hours=hours, minutes=7)
        assert tally.advance(now)
        expected = engagement_contributions(model, seen, now)
        assert tally.contributions() == expected
        assert tally.points() == sum(c.points for c in expected)
        for activity in arriving_later:
            tally.add(activity)
            seen.append(activity)
            assert tally.points() == sum(c.points for c in
                                         engagement_contributions(model, seen, now))
        arriving_later = []
    assert tally.contributions() == engagement_contributions(model, seen, now)
    assert not tally.advance(now - timedelta(seconds=1))  # never back in time


@st.composite
def batch_runs(draw: st.DrawFn) -> tuple[dict[uuid.UUID, tuple[StoredLead, list[Activity]]],
                                         list[tuple[datetime, list[LeadInput]]]]:
    """The leads of `batches` and several batches of their events, each applied later than
    the one before (hours to weeks)."""
    leads, inputs = draw(batches())
    runs, now = [(NOW, inputs)], NOW
    for _ in range(draw(st.integers(1, 3))):
        now += timedelta(hours=draw(st.sampled_from((0, 1, 30, 24 * 20))),
                         seconds=draw(st.integers(0, 59)))
        runs.append((now, draw(batches(leads))[1]))
    return leads, runs


def _apply_runs(model: ScoringModel, leads: dict[uuid.UUID, tuple[StoredLead, list[Activity]]],
                runs: list[tuple[datetime, list[LeadInput]]], keep: bool) -> list[Any]:
    """Apply the batches one after the other as the handler does: each lead's stored state
    carried over, its recent activities loaded from everything stored (as
    `recent_activities`) or, with `keep`, kept in memory between batches with their tally and
    the lead's fit."""
    stored = {lead_id: lead for lead_id, (lead, _) in leads.items()}
    history = {lead_id: list(activities) for lead_id, (_, activities) in leads.items()}
    kept, results = KeptActivities(), []
    for now, inputs in runs:
        since = now - timedelta(days=model.config.decay.window_days)
        states = {}
        for lead_id, lead in stored.items():
            was = kept.take(lead_id, 1, since) if keep else None
            if was is None:
                states[lead_id] = LeadState(lead, {}, [a for a in history[lead_id]
                                                       if a.occurred_at > since])
            else:
                tally = was.tally if was.tally is not None and was.tally.advance(now) else None
                states[lead_id] = LeadState(lead, {}, was.activities, engagement=tally,
                                            judged=was.judged)
        known = {a.activity_id for activities in history.values() for a in activities}
        new = {seen.activity.activity_id for seen in inputs
               if isinstance(seen, ActivitySeen)} - known
        outcome = apply_batch(inputs, states, new, model, None, now)
        for seen in inputs:  # stored, in the window or not
            if isinstance(seen, ActivitySeen) and seen.activity.activity_id in new:
                history[seen.lead_id].append(seen.activity)
        for lead_id, state in states.items():
            stored[lead_id] = state.lead
            if keep:
                kept.put(lead_id, Kept(1, since, state.activities, state.engagement,
                                       state.judged))
        results.append((outcome.rows, outcome.history,
                        [(type(e).__name__, e.model_dump(mode="json")) for e in outcome.events]))
    return results


@SETTINGS
@given(model=models(), run=batch_runs())
def test_batches_applied_with_kept_activities_write_and_publish_what_recomputing_does(
        model: ScoringModel,
        run: tuple[dict[uuid.UUID, tuple[StoredLead, list[Activity]]],
                   list[tuple[datetime, list[LeadInput]]]],
) -> None:
    leads, runs = run
    kept = _apply_runs(model, leads, runs, keep=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_module, "EngagementTally", Recomputed)
        patch.setattr(LeadState, "judge", lambda self, model: None)  # no quiet rescores either
        recomputed = _apply_runs(model, leads, runs, keep=False)
    assert kept == recomputed
