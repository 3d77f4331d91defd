"""Scoring's use cases: keep a local copy of each lead, rescore it, publish what changed.

Every use case locks the lead's row first, so events about one lead that arrive on different
topics apply one after the other, and computes from stored state only: a repeat delivery of
an event, already deduped by the consumer runner, could not be told apart from a new one by an
in-memory counter.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Consent,
    DealClosed,
    LeadActivity,
    LeadConsentChanged,
    LeadMerged,
    LeadProfile,
    LeadRejected,
    LeadSource,
    LeadUnmerged,
    event_time_now,
)
from scoring import model_repository, repository
from scoring.domain import (
    Activity,
    Qualification,
    ScoringModel,
    StoredLead,
    deal_features,
    merged_qualification,
)
from scoring.rescoring import rescore
from scoring.rules import ScoringModelConfig

SECONDS_PROPERTY = "seconds_on_page"
"""The activity property that says how long the lead spent (seconds on site, for learning)."""

# A version's rules never change once stored, so a parsed version can be kept for the process's
# life; only which version is active is read per event. Likewise a training, by its id.
_parsed_models: dict[int, ScoringModel] = {}
_trainings: dict[int, dict[str, Any]] = {}


async def model_version(conn: AsyncConnection, version: int) -> ScoringModel:
    """A stored model version, parsed once per process."""
    model = _parsed_models.get(version)
    if model is None:
        config = ScoringModelConfig.model_validate(await repository.model_config(conn, version))
        model = _parsed_models.setdefault(version, ScoringModel(version, config))
    return model


async def active_model(conn: AsyncConnection) -> ScoringModel:
    """The scoring model in force."""
    version = await repository.active_model_version(conn)
    if version is None:
        raise RuntimeError("no active scoring model; migration 0001 seeds version 1")
    return await model_version(conn, version)


async def trained_model(conn: AsyncConnection, model: ScoringModel) -> dict[str, Any] | None:
    """The latest learned model of a version that learns, or None (not configured or trained)."""
    if model.config.learning is None:
        return None
    training_id = await model_repository.latest_training_id(conn, model.version)
    if training_id is None:
        return None
    trained = _trainings.get(training_id)
    if trained is None:
        trained = _trainings.setdefault(training_id,
                                        await model_repository.training_model(conn, training_id))
    return trained


async def record_profile(uow: UnitOfWork, lead_id: UUID, profile: LeadProfile, consent: Consent,
                         at: datetime, event_id: str, source: LeadSource | None = None) -> None:
    """Keep a lead's profile and consent (and its first source) as of `at`, then rescore it."""
    lead = await repository.lock_lead(uow.connection, lead_id)
    if lead.erased:
        return
    values: dict[str, Any] = {}
    if source is not None and lead.source is None:
        values["source"] = source.model_dump(mode="json")
        lead = replace(lead, source=source)
    # Capture's events for one lead are ordered, but a profile older than the one kept (a
    # redelivered or replayed lead.created) must not overwrite it.
    if lead.profile_at is None or at >= lead.profile_at:
        values |= {"profile": profile.model_dump(mode="json"),
                   "consent": consent.model_dump(mode="json"),
                   "profile_at": at, "profile_event_id": event_id}
        lead = replace(lead, profile=profile, consent=consent, profile_at=at,
                       profile_event_id=event_id)
        values |= await _rescore(uow, lead, event_time_now(), event_id)
    await repository.update_lead(uow.connection, lead_id, values)


async def record_consent_change(uow: UnitOfWork, event: LeadConsentChanged,
                                event_id: str) -> None:
    """Keep which purposes the person withdrew consent to (a do-not-contact disqualifier reads
    it), and rescore when that changed."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    withdrawn = lead.consent_withdrawn - {event.purpose} if event.granted \
        else lead.consent_withdrawn | {event.purpose}
    if withdrawn == lead.consent_withdrawn:
        return
    lead = replace(lead, consent_withdrawn=withdrawn)
    values: dict[str, Any] = {"consent_withdrawn": sorted(withdrawn)}
    values |= await _rescore(uow, lead, event_time_now(), event_id)
    await repository.update_lead(uow.connection, lead.lead_id, values)


async def record_activity(uow: UnitOfWork, event: LeadActivity, event_id: str) -> None:
    """Store an activity once and rescore; before the lead's profile arrives, only store it."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    seconds = event.properties.get(SECONDS_PROPERTY)
    activity = Activity(
        activity_id=event.activity_id, kind=event.kind, occurred_at=event.occurred_at,
        url=event.url, event_id=event_id,
        seconds=float(seconds) if isinstance(seconds, int | float)
        and not isinstance(seconds, bool) and seconds >= 0 else None,
    )
    origin = None
    if lead.merged_into is not None:  # sent for a duplicate merged away: it is the survivor's
        origin, lead = lead.lead_id, await repository.lock_lead(uow.connection, lead.merged_into)
    if not await repository.insert_activity(uow.connection, lead.lead_id, activity, origin):
        return  # the same activity again (another event id): nothing new to score
    # New engagement after sales rejected the lead recycles it: it may qualify again.
    recycled = lead.rejected_at is not None and event.occurred_at > lead.rejected_at
    values = await _rescore(uow, lead, event_time_now(), event_id, recycled=recycled)
    await repository.update_lead(uow.connection, lead.lead_id, values)


async def record_rejection(uow: UnitOfWork, event: LeadRejected, event_id: str) -> None:
    """Sales rejected the lead: it may qualify again, but only by crossing the threshold anew."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    lead = replace(lead, qualification=Qualification.rejected, rejected_at=event.rejected_at)
    values: dict[str, Any] = {"qualification": lead.qualification.value,
                              "rejected_at": event.rejected_at}
    # Rescoring now sees any decay since the last event: a lead already below the threshold is
    # re-opened at once, so its next rise counts as a crossing.
    values |= await _rescore(uow, lead, event_time_now(), event_id)
    await repository.update_lead(uow.connection, lead.lead_id, values)


async def record_deal_outcome(uow: UnitOfWork, event: DealClosed, event_id: str) -> None:
    """Store a closed deal with what scoring knew about its lead, to learn from later."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    counts = await repository.activity_counts(uow.connection, lead.lead_id)
    await repository.upsert_deal_outcome(uow.connection, {
        "deal_id": event.deal_id, "lead_id": event.lead_id, "outcome": event.outcome,
        "amount_minor": event.amount_minor, "currency": event.currency,
        "closed_at": event.closed_at, "model_version": lead.model_version,
        "features": deal_features(lead, counts), "event_id": event_id,
    })


async def record_merge(uow: UnitOfWork, event: LeadMerged, event_id: str) -> None:
    """A duplicate was merged into a lead: its activities count for the survivor, rescored."""
    conn = uow.connection
    survivor, duplicate = await _lock_pair(conn, event.lead_id, event.merged_lead_id)
    if survivor.erased or duplicate.merged_into == survivor.lead_id:
        return
    await repository.move_activities(conn, duplicate.lead_id, survivor.lead_id)
    await repository.update_lead(conn, duplicate.lead_id, {"merged_into": survivor.lead_id})
    # One person goes to sales once, and a disqualification of either stands for both, as does
    # a consent either withdrew.
    survivor = replace(survivor, qualification=merged_qualification(
        survivor.qualification, duplicate.qualification),
        disqualified_rule=survivor.disqualified_rule or duplicate.disqualified_rule,
        consent_withdrawn=survivor.consent_withdrawn | duplicate.consent_withdrawn)
    values: dict[str, Any] = {"qualification": survivor.qualification.value,
                              "disqualified_rule": survivor.disqualified_rule,
                              "consent_withdrawn": sorted(survivor.consent_withdrawn)}
    if survivor.profile_at is None or event.merged_at >= survivor.profile_at:
        values |= {"profile": event.profile.model_dump(mode="json"),
                   "profile_at": event.merged_at, "profile_event_id": event_id}
        survivor = replace(survivor, profile=event.profile, profile_at=event.merged_at,
                           profile_event_id=event_id)
    values |= await _rescore(uow, survivor, event_time_now(), event_id)
    await repository.update_lead(conn, survivor.lead_id, values)


async def record_unmerge(uow: UnitOfWork, event: LeadUnmerged, event_id: str) -> None:
    """A merge was undone: the restored lead gets its own activities back; both rescored."""
    conn = uow.connection
    survivor, restored = await _lock_pair(conn, event.lead_id, event.restored_lead_id)
    if survivor.erased or restored.erased:
        return
    await repository.restore_activities(conn, survivor.lead_id, restored.lead_id)
    now = event_time_now()
    for lead, profile in ((survivor, event.profile), (restored, event.restored_profile)):
        lead = replace(lead, profile=profile, profile_at=event.unmerged_at,
                       profile_event_id=event_id, merged_into=None)
        values: dict[str, Any] = {"profile": profile.model_dump(mode="json"),
                                  "profile_at": event.unmerged_at,
                                  "profile_event_id": event_id, "merged_into": None}
        values |= await _rescore(uow, lead, now, event_id)
        await repository.update_lead(conn, lead.lead_id, values)


async def _lock_pair(conn: AsyncConnection, first: UUID,
                     second: UUID) -> tuple[StoredLead, StoredLead]:
    """Lock two leads in id order (as every multi-lead transaction does: no deadlock)."""
    locked = {lead_id: await repository.lock_lead(conn, lead_id)
              for lead_id in sorted((first, second))}
    return locked[first], locked[second]


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Forget a lead (GDPR): delete its data, keep a tombstone so late events stay ignored."""
    await repository.lock_lead(uow.connection, lead_id)
    await repository.erase_lead(uow.connection, lead_id, erased_at)


async def _rescore(uow: UnitOfWork, lead: StoredLead, now: datetime, event_id: str,
                   *, recycled: bool = False) -> dict[str, Any]:
    """Score the lead at `now`, publish what changed, return the columns to store."""
    if lead.profile is None:
        return {}  # scored when lead.created (or lead.updated) brings the profile
    conn = uow.connection
    model = await active_model(conn)
    trained = await trained_model(conn, model)
    since = now - timedelta(days=model.config.decay.window_days)
    activities = await repository.activities_since(conn, lead.lead_id, since)
    outcome = rescore(lead, model, trained, activities, now, recycled=recycled)
    if outcome.history is not None:
        await repository.insert_history(conn, [(lead.lead_id, outcome.history, event_id, now)])
    for event in outcome.events:
        uow.publish(event)
    return outcome.values
