"""Scoring's use cases: keep a local copy of each lead, rescore it, publish what changed.

Profiles and activities (every lead's events) apply a batch at a time: the batch's leads are
locked in one statement, their recent activities loaded in one, new activities stored in one,
each lead's events applied in order in memory (`lead_batch`), and the changed leads, history
rows and events written with one statement each. Rarer events (consent changes, merges,
rejections, deals, erasures) apply one at a time: each locks its lead's row first, so events
about one lead that arrive on different topics apply one after the other. All compute from
stored state only: a repeat delivery, already deduped by the consumer runner, could not be told
apart from a new one by an in-memory counter.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.db import UnitOfWork
from leadloop.events.models import (
    CONSENT_PURPOSES,
    Consent,
    DealClosed,
    LeadActivity,
    LeadClosed,
    LeadConsentChanged,
    LeadMerged,
    LeadProfile,
    LeadRejected,
    LeadSource,
    LeadUnmerged,
    event_time_now,
    event_type_of,
)
from scoring.leads import repository
from scoring.leads.batch import (
    LeadInput,
    LeadState,
    ProfileSeen,
    activities_to_store,
    activity_seen,
    apply_batch,
    last_event,
    survivor_ids,
)
from scoring.leads.kept import KEPT, Kept, new_version
from scoring.leads.rescoring import rescore
from scoring.learning import repository as outcome_repository
from scoring.models.in_force import IN_FORCE
from scoring.rules.domain import (
    Qualification,
    StoredLead,
    deal_features,
    merged_qualification,
)


async def apply_lead_events(uow: UnitOfWork, inputs: list[LeadInput]) -> None:
    """Keep profiles and activities, in order, and rescore their leads: a fixed handful of
    statements whatever the number of events."""
    if not inputs:
        return
    driver = await uow.driver()
    in_force = await IN_FORCE.get(uow.connection)
    now = event_time_now()
    locked = await repository.lock_leads(driver, {seen.lead_id for seen in inputs})
    survivors = survivor_ids(inputs, {lead_id: row.lead for lead_id, row in locked.items()})
    # Activities sent for duplicates merged away go to their survivors (rare): locked after
    # the batch's own leads, as the per-event path always did.
    if survivors:
        locked |= await repository.lock_leads(driver, survivors)
    leads = {lead_id: row.lead for lead_id, row in locked.items()}
    model = in_force.model
    since = now - timedelta(days=model.config.decay.window_days)
    # What an earlier batch of this process left of each lead, while no other writer changed
    # its activities since; the rest are loaded.
    kept = {lead_id: KEPT.take(lead_id, row.columns["activities_version"], since)
            for lead_id, row in locked.items()}
    missing = [lead_id for lead_id, state in kept.items()
               if state is None and not locked[lead_id].created]
    loaded = await repository.recent_activities(driver, missing, since)
    to_store = activities_to_store(inputs, leads)
    new = await repository.insert_activities(driver, to_store)
    states = {}
    for lead_id, row in locked.items():
        state = kept[lead_id]
        tally = None if state is None or state.tally is None or state.tally.model is not model \
            or not state.tally.advance(now) else state.tally
        states[lead_id] = LeadState(row.lead, row.columns, loaded.get(lead_id, [])
                                    if state is None else state.activities, engagement=tally,
                                    judged=None if state is None else state.judged)
    for lead_id in {lead_id for lead_id, activity, _ in to_store if activity.activity_id in new}:
        states[lead_id].set({"activities_version": new_version()})
    outcome = apply_batch(inputs, states, new, model, in_force.trained, now,
                          in_force.expansion)
    await repository.save_scores(driver, outcome.rows, outcome.history)
    for event in outcome.events:
        uow.publish(event)
    uow.after_commit(lambda: _keep(states, since))


def row_version(state: LeadState) -> int:
    """The lead's activities_version as the batch leaves it."""
    version: int = state.columns["activities_version"]
    return version


def _keep(states: dict[UUID, LeadState], since: datetime) -> None:
    """Keep what the committed batch leaves of each lead for the next one."""
    for lead_id, state in states.items():
        if not state.lead.erased:
            KEPT.put(lead_id, Kept(row_version(state), since, state.activities, state.engagement,
                                   state.judged))


async def record_profile(uow: UnitOfWork, lead_id: UUID, profile: LeadProfile, consent: Consent,
                         at: datetime, event_id: str, source: LeadSource | None = None) -> None:
    """Keep a lead's profile and consent (and its first source) as of `at`, then rescore it."""
    await apply_lead_events(uow, [ProfileSeen(lead_id, profile, consent, at, event_id, source)])


async def record_activity(uow: UnitOfWork, event: LeadActivity, event_id: str) -> None:
    """Store an activity once and rescore; before the lead's profile arrives, only store it."""
    await apply_lead_events(uow, [activity_seen(event, event_id)])


async def record_consent_change(uow: UnitOfWork, event: LeadConsentChanged,
                                event_id: str) -> None:
    """Keep the lead's consent as capture announces it (lead.qualified hands it to sales) and
    which purposes the person withdrew (a do-not-contact disqualifier reads it), and rescore
    when that changed."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    withdrawn = lead.consent_withdrawn - {event.purpose} if event.granted \
        else lead.consent_withdrawn | {event.purpose}
    consent = lead.consent
    if consent is not None and event.purpose in CONSENT_PURPOSES \
            and getattr(consent, event.purpose) != event.granted:
        consent = consent.model_copy(update={event.purpose: event.granted})
    if withdrawn == lead.consent_withdrawn and consent == lead.consent:
        return
    lead = replace(lead, consent_withdrawn=withdrawn, consent=consent)
    values: dict[str, Any] = {"consent_withdrawn": sorted(withdrawn),
                              **last_event(event_id, event_type_of(event), event.changed_at)}
    if consent is not None:
        values["consent"] = consent.model_dump(mode="json")
    values |= await _rescore(uow, lead, event_time_now(), event_id)
    await repository.update_lead(uow.connection, lead.lead_id, values)


async def record_rejection(uow: UnitOfWork, event: LeadRejected, event_id: str) -> None:
    """Sales rejected the lead: it may qualify again, but only by crossing the threshold anew."""
    lead = await repository.lock_lead(uow.connection, event.lead_id)
    if lead.erased:
        return
    lead = replace(lead, qualification=Qualification.rejected, rejected_at=event.rejected_at)
    values: dict[str, Any] = {"qualification": lead.qualification.value,
                              "rejected_at": event.rejected_at,
                              **last_event(event_id, event_type_of(event), event.rejected_at)}
    # Rescoring now sees any decay since the last event: a lead already below the threshold is
    # re-opened at once, so its next rise counts as a crossing.
    values |= await _rescore(uow, lead, event_time_now(), event_id)
    await repository.update_lead(uow.connection, lead.lead_id, values)


async def record_deal_outcome(uow: UnitOfWork, event: DealClosed, event_id: str) -> None:
    """Store a closed deal with what scoring knew about its lead, to learn from later."""
    lead = await _keep_outcome(uow, event.lead_id, event_id, {
        "deal_id": event.deal_id, "outcome": event.outcome, "amount_minor": event.amount_minor,
        "currency": event.currency, "reason": event.lost_reason, "closed_at": event.closed_at})
    if lead is not None and event.outcome == "won" and (
            lead.customer_since is None or event.closed_at > lead.customer_since):
        # A customer is never qualified again as a new MQL: its new interest goes to its
        # owner through handoff (reason existing_customer), not to the new-lead rotation.
        # Its expansion score starts over from this purchase.
        await repository.update_lead(uow.connection, lead.lead_id, {
            "qualification": Qualification.qualified.value,
            "customer_since": event.closed_at, "expansion_score": None,
            "expansion_qualified_at": None})


async def record_lead_closed(uow: UnitOfWork, event: LeadClosed, event_id: str) -> None:
    """Store a lead closed as not converted, with what scoring knew about it: a negative
    outcome to learn from, beside lost deals (keyed by the closure's id)."""
    await _keep_outcome(uow, event.lead_id, event_id, {
        "deal_id": event.closure_id, "outcome": "not_converted", "amount_minor": None,
        "currency": None, "reason": event.reason, "closed_at": event.closed_at})


async def _keep_outcome(uow: UnitOfWork, lead_id: UUID, event_id: str,
                        outcome: dict[str, Any]) -> StoredLead | None:
    """Store an outcome of a lead with the features scoring knew then; the lead, or None
    when it was erased (nothing is kept)."""
    lead = await repository.lock_lead(uow.connection, lead_id)
    if lead.erased:
        return None
    counts = await repository.activity_counts(uow.connection, lead.lead_id)
    await outcome_repository.upsert_deal_outcome(uow.connection, {
        **outcome, "lead_id": lead_id, "model_version": lead.model_version,
        "features": deal_features(lead, counts), "event_id": event_id,
    })
    return lead


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


async def _rescore(uow: UnitOfWork, lead: StoredLead, now: datetime,
                   event_id: str) -> dict[str, Any]:
    """Score the lead at `now`, publish what changed, return the columns to store."""
    if lead.profile is None:
        return {}  # scored when lead.created (or lead.updated) brings the profile
    conn = uow.connection
    in_force = await IN_FORCE.get(conn)
    since = now - timedelta(days=in_force.model.config.decay.window_days)
    activities = (await repository.activities_of(conn, [lead.lead_id], since)).get(
        lead.lead_id, [])
    outcome = rescore(lead, in_force.model, in_force.trained, activities, now,
                      expansion=in_force.expansion)
    if outcome.history is not None:
        await repository.insert_history(await uow.driver(),
                                        [(lead.lead_id, outcome.history, event_id, now)])
    for event in outcome.events:
        uow.publish(event)
    return outcome.values
