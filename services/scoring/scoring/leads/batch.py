"""The hot path's decisions for a batch of profiles and activities, in event order. No I/O.

The caller loads the batch's leads (locked), their recent activities and stores the batch's
new activities first (`activities_to_store`, then the ids that were new); `apply_batch` then
applies every event of each lead in order to an in-memory copy, reusing `rescore`, and says
which rows, history and events to write. Applying a batch or its events one at a time gives the
same state and events.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from leadloop.events import event_type_of
from leadloop.events.models import (
    Consent,
    EventData,
    LeadActivity,
    LeadCreated,
    LeadProfile,
    LeadSource,
    ScoreContribution,
)
from scoring.leads.rescoring import contributions_json, quiet_rescore, rescore
from scoring.learning.domain import TrainedModel
from scoring.models.in_force import ExpansionInForce
from scoring.rules.activities import Activity, numeric_properties
from scoring.rules.domain import (
    Disqualification,
    LeadScore,
    Qualification,
    ScoringModel,
    StoredLead,
    find_disqualification,
    fit_contributions,
)
from scoring.rules.engagement import EngagementTally
from scoring.rules.lead_fields import LeadFields

LEAD_CREATED = event_type_of(LeadCreated)


@dataclass(frozen=True, slots=True)
class ProfileSeen:
    """A lead's profile and consent as of `at` (lead.created, lead.updated); lead.created
    also brings the lead's source."""

    lead_id: UUID
    profile: LeadProfile
    consent: Consent
    at: datetime
    event_id: str
    source: LeadSource | None = None
    event_type: str = "leadloop.lead.updated.v1"


@dataclass(frozen=True, slots=True)
class ActivitySeen:
    """Something a lead did (lead.activity), sent for `lead_id`."""

    lead_id: UUID
    activity: Activity


LeadInput = ProfileSeen | ActivitySeen


ACTIVITY_TYPE = "leadloop.lead.activity.v1"


def last_event(event_id: str, event_type: str, at: datetime) -> dict[str, Any]:
    """The columns that say which event was applied last to a lead, and when it happened."""
    return {"last_event_id": event_id, "last_event_type": event_type, "last_event_at": at}


def activity_seen(event: LeadActivity, event_id: str) -> ActivitySeen:
    """A lead.activity as scoring stores it (with its numeric properties, seconds on page
    apart)."""
    seconds, numbers = numeric_properties(event.properties)
    return ActivitySeen(event.lead_id, Activity(
        activity_id=event.activity_id, kind=event.kind, occurred_at=event.occurred_at,
        url=event.url, event_id=event_id, seconds=seconds, numbers=numbers or None,
    ))


@dataclass(frozen=True, slots=True)
class Judged:
    """A lead's fit contributions and matching disqualifier under a model, as of a copy of
    the lead: what they read (profile, consent, source, the profile's event, withdrawn
    consents) rarely changes, and the rules' string work is the dearest part of a score."""

    model: ScoringModel
    lead: StoredLead
    fit: list[ScoreContribution]
    disqualification: Disqualification | None
    fit_score: int  # the sum of the fit's points

    def reads_alike(self, lead: StoredLead) -> bool:
        """Whether `lead` has the fields these were worked out from."""
        was = self.lead
        return (lead.profile_event_id == was.profile_event_id and lead.profile == was.profile
                and lead.consent == was.consent and lead.source == was.source
                and lead.consent_withdrawn == was.consent_withdrawn)


@dataclass(slots=True)
class LeadState:
    """One locked lead while the batch is applied: the lead, its written columns, its
    recent activities, and whether anything is to be written. `engagement` tallies the
    activities once the lead is first rescored: the batch's `now` is fixed, so each later
    activity adds its own share instead of every rescore going over the whole history.
    `explain_later` says the latest rescore changed nothing shown (`quiet_rescore`): its
    contributions, the fit's and the tally's as they stand, are built once the batch is
    applied."""

    lead: StoredLead
    columns: dict[str, Any]
    activities: list[Activity] = field(default_factory=list)
    changed: bool = False
    engagement: EngagementTally | None = None
    contributions: tuple[ScoreContribution, ...] | None = None  # of its latest score, if any
    explain_later: bool = False
    judged: Judged | None = None  # kept from an earlier batch, or worked out in this one

    def judge(self, model: ScoringModel) -> Judged | None:
        """The lead's fit contributions and disqualifier (None before its profile), worked out
        again only when what they read changed (a profile in the batch): every activity's
        rescore would otherwise redo them."""
        lead = self.lead
        if lead.profile is None:
            return None
        judged = self.judged
        if judged is None or judged.lead is not lead:
            if judged is not None and judged.model is model and judged.reads_alike(lead):
                # Another copy of the lead (a new score; the next batch's row), same fields.
                judged = Judged(model, lead, judged.fit, judged.disqualification,
                                judged.fit_score)
            else:
                fields = LeadFields(lead.profile, lead.consent, lead.source)
                fit = fit_contributions(model, fields, lead.profile_event_id)
                judged = Judged(model, lead, fit,
                                find_disqualification(model, fields, lead.consent_withdrawn),
                                sum(c.points for c in fit))
            self.judged = judged
        return judged

    def append(self, activity: Activity) -> None:
        """One more recent activity (after those loaded and the batch's earlier ones)."""
        self.activities.append(activity)
        if self.engagement is not None:
            self.engagement.add(activity)

    def set(self, values: dict[str, Any]) -> None:
        """Record columns to write."""
        if values:
            self.columns |= values
            self.changed = True


@dataclass
class BatchOutcome:
    """What a batch changes: rows to write, history rows, events to publish (in order)."""

    rows: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[UUID, LeadScore, str | None, datetime]] = field(default_factory=list)
    events: list[EventData] = field(default_factory=list)


def survivor_ids(inputs: list[LeadInput], leads: dict[UUID, StoredLead]) -> set[UUID]:
    """The leads that activities sent for duplicates merged away go to, not locked yet."""
    merged = {leads[seen.lead_id].merged_into for seen in inputs
              if isinstance(seen, ActivitySeen) and not leads[seen.lead_id].erased}
    return {lead_id for lead_id in merged if lead_id is not None} - leads.keys()


def activities_to_store(inputs: list[LeadInput], leads: dict[UUID, StoredLead],
                        ) -> list[tuple[UUID, Activity, UUID | None]]:
    """The batch's activities to insert: (lead, activity, the duplicate it was sent for).

    Activities of erased leads are dropped; one sent for a duplicate merged away belongs to
    the survivor; the first delivery of an activity id is the one kept.
    """
    rows: dict[UUID, tuple[UUID, Activity, UUID | None]] = {}
    for seen in inputs:
        if not isinstance(seen, ActivitySeen) or seen.activity.activity_id in rows:
            continue
        lead = leads[seen.lead_id]
        if lead.erased:
            continue
        if lead.merged_into is None:
            rows[seen.activity.activity_id] = (lead.lead_id, seen.activity, None)
        else:
            rows[seen.activity.activity_id] = (lead.merged_into, seen.activity, lead.lead_id)
    return list(rows.values())


def apply_batch(inputs: list[LeadInput], states: dict[UUID, LeadState], new_activities: set[UUID],
                model: ScoringModel, trained: TrainedModel | None,
                now: datetime, expansion: ExpansionInForce | None = None) -> BatchOutcome:
    """Apply each event in order to the loaded `states` (changed in place); what to write.

    `new_activities` are the ids `activities_to_store` inserted; any other activity was known
    already and scores nothing again.
    """
    outcome = BatchOutcome()
    since = now - timedelta(days=model.config.decay.window_days)
    scored = set()  # activity ids applied in this batch (a second delivery scores nothing)

    def score(state: LeadState, event_id: str | None, recycled: bool = False) -> None:
        if state.engagement is None and state.lead.profile is not None:
            state.engagement = EngagementTally(model, now, state.activities)
        judged = state.judge(model)
        if state.engagement is not None and judged is not None:
            quiet = quiet_rescore(state.lead, model, trained, now,
                                  engagement_points=state.engagement.points(),
                                  fit_score=judged.fit_score,
                                  disqualification=judged.disqualification,
                                  recycled=recycled, expansion=expansion)
            if quiet is not None:
                state.set(quiet)
                state.explain_later = True
                state.lead = _with_score(state.lead, quiet)
                return
        rescored = rescore(state.lead, model, trained, state.activities, now, recycled=recycled,
                           expansion=expansion, engagement=state.engagement,
                           fit=None if judged is None else judged.fit,
                           contributions_in_values=False)
        state.set(rescored.values)
        if rescored.contributions is not None:
            state.contributions = rescored.contributions
            state.explain_later = False
        state.lead = _with_score(state.lead, rescored.values)
        if rescored.history is not None:
            outcome.history.append((state.lead.lead_id, rescored.history, event_id, now))
        outcome.events.extend(rescored.events)

    for seen in inputs:
        state = states[seen.lead_id]
        lead = state.lead
        if lead.erased:
            continue
        if isinstance(seen, ProfileSeen):
            if seen.event_type == LEAD_CREATED and lead.created_at is None:
                # Kept for lead.qualified: handoff measures speed to lead from it.
                state.set({"created_at": seen.at})
                state.lead = lead = replace(lead, created_at=seen.at)
            if seen.source is not None and lead.source is None:
                state.set({"source": seen.source.model_dump(mode="json")})
                state.lead = lead = replace(lead, source=seen.source)
            # Capture's events for one lead are ordered, but a profile older than the one
            # kept (a redelivered or replayed lead.created) must not overwrite it.
            if lead.profile_at is None or seen.at >= lead.profile_at:
                state.set({"profile": seen.profile.model_dump(mode="json"),
                           "consent": seen.consent.model_dump(mode="json"),
                           "profile_at": seen.at, "profile_event_id": seen.event_id})
                state.set(last_event(seen.event_id, seen.event_type, seen.at))
                state.lead = replace(lead, profile=seen.profile, consent=seen.consent,
                                     profile_at=seen.at, profile_event_id=seen.event_id)
                score(state, seen.event_id)
            continue
        activity = seen.activity
        if activity.activity_id not in new_activities or activity.activity_id in scored:
            continue  # the same activity again (another event id): nothing new to score
        scored.add(activity.activity_id)
        if lead.merged_into is not None:  # sent for a duplicate merged away: the survivor's
            state = states[lead.merged_into]
        if activity.occurred_at > since:
            state.append(activity)
        state.set(last_event(activity.event_id or "", ACTIVITY_TYPE, activity.occurred_at))
        # New engagement after sales rejected the lead recycles it: it may qualify again.
        rejected_at = state.lead.rejected_at
        score(state, activity.event_id,
              recycled=rejected_at is not None and activity.occurred_at > rejected_at)
    for state in states.values():
        if state.explain_later:
            judged = state.judge(model)
            assert state.engagement is not None and judged is not None
            state.contributions = (*judged.fit, *state.engagement.contributions())
        if state.contributions is not None:  # the lead's last score's explanation is stored
            state.columns["contributions"] = contributions_json(state.contributions)
    outcome.rows = {lead_id: state.columns for lead_id, state in states.items() if state.changed}
    return outcome


def _with_score(lead: StoredLead, values: dict[str, Any]) -> StoredLead:
    """The lead after a rescore's columns are stored (what the next event of the batch sees)."""
    if not values:
        return lead
    changes: dict[str, Any] = {name: values[name] for name in (
        "score", "fit_score", "engagement_score", "grade", "is_mql", "model_version",
        "win_probability", "disqualified_rule", "expansion_score", "expansion_qualified_at")
        if name in values}
    if "qualification" in values:
        changes["qualification"] = Qualification(values["qualification"])
    # Most rescores of a busy lead change nothing it stores (a capped rule stays at its cap):
    # no copy then (a copy of the 22 fields is a good part of such a rescore).
    changes = {name: value for name, value in changes.items() if getattr(lead, name) != value}
    return replace(lead, **changes) if changes else lead
