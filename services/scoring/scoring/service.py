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
    ActivitySummary,
    Consent,
    DealClosed,
    LeadActivity,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    LeadRejected,
    LeadScored,
    LeadSource,
    event_time_now,
)
from scoring import repository
from scoring.domain import (
    Activity,
    LeadScore,
    Qualification,
    ScoringModel,
    StoredLead,
    deal_features,
    next_qualification,
    score_lead,
)
from scoring.rules import ScoringModelConfig

RECENT_ACTIVITIES = 10
"""How many recent activities lead.qualified carries for the rep."""

# A version's rules never change once stored, so a parsed version can be kept for the process's
# life; only which version is active is read per event.
_parsed_models: dict[int, ScoringModel] = {}


async def active_model(conn: AsyncConnection) -> ScoringModel:
    """The scoring model in force."""
    version = await repository.active_model_version(conn)
    if version is None:
        raise RuntimeError("no active scoring model; migration 0001 seeds version 1")
    model = _parsed_models.get(version)
    if model is None:
        config = ScoringModelConfig.model_validate(await repository.model_config(conn, version))
        model = _parsed_models.setdefault(version, ScoringModel(version, config))
    return model


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


async def record_activity(uow: UnitOfWork, event: LeadActivity, event_id: str) -> None:
    """Store an activity once and rescore; before the lead's profile arrives, only store it."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    activity = Activity(activity_id=event.activity_id, kind=event.kind,
                        occurred_at=event.occurred_at, url=event.url, event_id=event_id)
    if not await repository.insert_activity(uow.connection, lead.lead_id, activity):
        return  # the same activity again (another event id): nothing new to score
    values = await _rescore(uow, lead, event_time_now(), event_id)
    await repository.update_lead(uow.connection, lead.lead_id, values)


async def record_rejection(uow: UnitOfWork, event: LeadRejected, event_id: str) -> None:
    """Sales rejected the lead: it may qualify again, but only by crossing the threshold anew."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    lead = replace(lead, qualification=Qualification.rejected)
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


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Forget a lead (GDPR): delete its data, keep a tombstone so late events stay ignored."""
    await repository.lock_lead(uow.connection, lead_id)
    await repository.erase_lead(uow.connection, lead_id, erased_at)


async def _rescore(uow: UnitOfWork, lead: StoredLead, now: datetime,
                   event_id: str) -> dict[str, Any]:
    """Score the lead at `now`, publish what changed, return the columns to store."""
    if lead.profile is None:
        return {}  # scored when lead.created (or lead.updated) brings the profile
    conn = uow.connection
    model = await active_model(conn)
    since = now - timedelta(days=model.config.decay.window_days)
    activities = await repository.activities_since(conn, lead.lead_id, since)
    result = score_lead(model, lead.profile, activities, now,
                        profile_event_id=lead.profile_event_id,
                        disqualified=lead.disqualified_rule is not None)
    values: dict[str, Any] = {
        "contributions": [c.model_dump(mode="json") for c in result.contributions],
        "scored_at": now,
    }
    if result.disqualification is not None and lead.disqualified_rule is None:
        values |= {"disqualified_rule": result.disqualification.rule_id,
                   "disqualified_reason": result.disqualification.reason,
                   "disqualified_at": now}
        uow.publish(LeadDisqualified(
            lead_id=lead.lead_id, rule_id=result.disqualification.rule_id,
            reason=result.disqualification.reason, model_version=model.version,
            disqualified_at=now,
        ))
    if result.summary() != lead.summary():
        values |= {"score": result.score, "fit_score": result.fit_score,
                   "engagement_score": result.engagement_score, "grade": result.grade,
                   "is_mql": result.is_mql, "model_version": result.model_version}
        await repository.insert_history(conn, lead.lead_id, result, event_id, now)
        uow.publish(_scored_event(lead.lead_id, result, now))
    qualification, qualifies = next_qualification(lead.qualification, result.is_mql)
    values["qualification"] = qualification.value
    if qualifies:
        values["qualified_at"] = now
        recent = await repository.recent_activities(conn, lead.lead_id, RECENT_ACTIVITIES)
        uow.publish(_qualified_event(lead, lead.profile, result, recent, now))
    return values


def _scored_event(lead_id: UUID, result: LeadScore, now: datetime) -> LeadScored:
    return LeadScored(
        lead_id=lead_id, score=result.score, fit_score=result.fit_score,
        engagement_score=result.engagement_score, grade=result.grade,
        model_version=result.model_version, is_mql=result.is_mql,
        contributions=list(result.contributions), scored_at=now,
    )


def _qualified_event(lead: StoredLead, profile: LeadProfile, result: LeadScore,
                     recent: list[Activity], now: datetime) -> LeadQualified:
    return LeadQualified(
        lead_id=lead.lead_id, score=result.score, grade=result.grade,
        model_version=result.model_version, contributions=list(result.contributions),
        profile=profile, consent=lead.consent or Consent(), source=lead.source or LeadSource(),
        recent_activities=[
            ActivitySummary(kind=a.kind, occurred_at=a.occurred_at, url=a.url) for a in recent
        ],
        qualified_at=now,
    )
