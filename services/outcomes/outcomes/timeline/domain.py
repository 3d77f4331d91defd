"""A lead's timeline: one entry per event about it, in words a rep reads. Pure, no I/O.

Outcomes consumes every topic, so it is the one place that sees a lead's whole story: capture's
activities and profile changes, nurture's messages and the opens, clicks and replies they got,
every score change with the rules behind it, routing, SLA timers, what sales did (and who), and
deals. Each event becomes at most one entry, keyed by the event's id (a redelivery or a rebuild
writes the same entry again, which the table keeps once).

An entry holds what the event said, personal fields included (a page's URL, a rejection note):
a rep reading a lead's story needs them. Erasure deletes the lead's entries
(repository.erase_timeline), and an event arriving after the erasure adds none.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

from leadloop.events.models import (
    Actor,
    DealClosed,
    DealOpened,
    EventData,
    LeadAccepted,
    LeadActivity,
    LeadClosed,
    LeadConsentChanged,
    LeadContacted,
    LeadCreated,
    LeadDisqualified,
    LeadHandedOff,
    LeadMerged,
    LeadQualified,
    LeadQueueAlert,
    LeadRejected,
    LeadScored,
    LeadSlaBreached,
    LeadStageChanged,
    LeadUnmerged,
    LeadUnsubscribed,
    LeadUpdated,
    NurtureMessageSent,
    event_type_of,
)
from leadloop.handlers import Item

LeadEvent: TypeAlias = (
    LeadCreated | LeadQualified | LeadHandedOff | LeadAccepted | DealOpened | DealClosed
    | LeadScored | LeadContacted | LeadActivity | LeadUpdated | LeadRejected | LeadClosed
    # which lead a duplicate counts as (outcomes.funnel.merges)
    | LeadMerged | LeadUnmerged
    # these tell the funnel nothing; they are on the lead's timeline
    | LeadConsentChanged | LeadDisqualified | LeadSlaBreached | LeadQueueAlert
    | NurtureMessageSent | LeadUnsubscribed | LeadStageChanged
)
"""Every event about a lead that outcomes folds (lead.erased aside): each adds an entry to its
lead's timeline; the batch handler takes them all (outcomes.handlers)."""


SAME_INSTANT_RANK: dict[str, int] = {"created": 0, "qualified": 2, "disqualified": 2,
                                     "stage_changed": 3}
"""Where an entry goes among the entries of one instant: the lead's capture first, and an entry
after the one that caused it. The consent given with a form comes with the lead's capture; a
lead is qualified or disqualified at the moment it is scored; a lifecycle stage change carries
the time of the event that moved the lead. So "Lead captured", then "Consent granted", and
"Score 55", then "Qualified", then "Lifecycle stage lead → mql", never the other way round.
Other kinds rank OTHER_KINDS_RANK; ties keep event id order."""
OTHER_KINDS_RANK = 1


def same_instant_rank(kind: str) -> int:
    """An entry's place among the entries of one instant (see SAME_INSTANT_RANK)."""
    return SAME_INSTANT_RANK.get(kind, OTHER_KINDS_RANK)


def _money(amount_minor: int, currency: str) -> str:
    return f"{amount_minor / 100:,.2f} {currency}"


def _by(actor: Actor | None) -> str | None:
    return None if actor is None else actor.name


def score_explanation(event: LeadScored) -> dict[str, Any]:
    """The score and the rules behind it, largest share first, as the timeline keeps it:
    JSON as stored (no None values), so its rows take it as it is (see timeline_rows)."""
    explanation: dict[str, Any] = {
        "score": event.score, "fit_score": event.fit_score,
        "engagement_score": event.engagement_score, "grade": event.grade,
        "is_mql": event.is_mql, "model_version": event.model_version,
        "contributions": [
            {"rule_id": c.rule_id, "points": c.points, "reason": c.reason}
            for c in sorted(event.contributions, key=lambda c: (-abs(c.points), c.rule_id))],
    }
    if event.win_probability is not None:
        explanation["win_probability"] = event.win_probability
    return explanation


def _entry(event: EventData) -> tuple[str, datetime, str, str | None, dict[str, Any]] | None:
    """(kind, occurred_at, summary, who did it, detail) of an event; None: no entry."""
    match event:
        case LeadCreated():
            channel = event.source.channel
            campaign = f", campaign {event.source.campaign}" if event.source.campaign else ""
            return ("created", event.created_at, f"Lead captured ({channel}{campaign})", None,
                    {"source": event.source.model_dump(exclude_none=True),
                     "form_id": event.form_id})
        case LeadUpdated():
            fields = ", ".join(event.changed_fields) or "profile"
            return ("updated", event.updated_at, f"Profile updated: {fields}", None,
                    {"changed_fields": event.changed_fields})
        case LeadActivity():  # its detail built as stored (see timeline_rows)
            where = f" {event.url}" if event.url else ""
            detail: dict[str, Any] = {"activity_id": str(event.activity_id),
                                      "source": event.source.model_dump(exclude_none=True)}
            if event.url is not None:
                detail["url"] = event.url
            return (event.kind, event.occurred_at, f"{event.kind.replace('_', ' ')}{where}",
                    None, detail)
        case LeadConsentChanged():
            verb = "granted" if event.granted else "withdrawn"
            return ("consent_changed", event.changed_at,
                    f"Consent to {event.purpose.replace('_', ' ')} {verb}", event.source,
                    {"purpose": event.purpose, "granted": event.granted})
        case LeadMerged():
            return ("merged", event.merged_at, "A duplicate was merged into this lead", None,
                    {"merged_lead_id": str(event.merged_lead_id)})
        case LeadUnmerged():
            return ("unmerged", event.unmerged_at, "A merge was undone: the duplicate is a lead "
                    "of its own again", None, {"restored_lead_id": str(event.restored_lead_id)})
        case LeadScored():
            return ("scored", event.scored_at,
                    f"Score {event.score} (grade {event.grade}"
                    + (", MQL)" if event.is_mql else ")"), None, score_explanation(event))
        case LeadQualified():
            return ("qualified", event.qualified_at,
                    f"Qualified (MQL) at score {event.score}", None, {"score": event.score})
        case LeadDisqualified():
            return ("disqualified", event.disqualified_at, f"Disqualified: {event.reason}",
                    None, {"rule_id": event.rule_id, "reason": event.reason})
        case LeadHandedOff():
            if event.rep is None:
                summary = f"Waiting in the fallback queue: {event.routing_reason}"
            else:
                summary = f"Assigned to {event.rep.name}: {event.routing_reason}"
            return ("queued" if event.rep is None else "assigned", event.handed_off_at, summary,
                    _by(event.assigned_by),
                    {"assignment_id": str(event.assignment_id),
                     "rep": None if event.rep is None else
                     {"id": str(event.rep.id), "name": event.rep.name, "team": event.rep.team},
                     "routing_rule": event.routing_rule, "reason": event.routing_reason,
                     "sla_deadline": event.sla_deadline})
        case LeadAccepted():
            return ("accepted", event.accepted_at, "Accepted by sales", _by(event.by),
                    {"assignment_id": str(event.assignment_id), "rep_id": str(event.rep_id)})
        case LeadRejected():
            note = f": {event.note}" if event.note else ""
            return ("rejected", event.rejected_at,
                    f"Rejected ({event.reason_code.value.replace('_', ' ')}){note}",
                    _by(event.by), {"assignment_id": str(event.assignment_id),
                                    "reason_code": event.reason_code.value, "note": event.note})
        case LeadContacted():
            how = f" by {event.channel}" if event.channel else ""
            return ("contacted", event.contacted_at, f"First contact{how}", _by(event.by),
                    {"assignment_id": str(event.assignment_id), "channel": event.channel})
        case LeadSlaBreached():
            return ("sla_breached", event.breached_at,
                    f"Accept deadline missed; lead {event.action}", None,
                    {"assignment_id": str(event.assignment_id), "deadline": event.deadline,
                     "action": event.action,
                     "rep_id": None if event.rep_id is None else str(event.rep_id)})
        case LeadQueueAlert():
            who = ", ".join(m.name for m in event.managers) or "nobody (no manager)"
            return ("queue_alert", event.alerted_at,
                    f"Fallback queue alert {event.alert} to {who}", None,
                    {"team": event.team, "alert": event.alert, "waited_s": event.waited_s})
        case NurtureMessageSent():
            return ("message_sent", event.sent_at,
                    f"{event.channel.capitalize()} sent: {event.template} "
                    f"(sequence {event.sequence_id}, step {event.step})", None,
                    {"message_id": str(event.message_id), "sequence_id": event.sequence_id,
                     "step": event.step, "channel": event.channel, "template": event.template})
        case LeadUnsubscribed():
            return ("unsubscribed", event.unsubscribed_at,
                    f"Unsubscribed from {event.channel}", None, {"channel": event.channel})
        case DealOpened():
            return ("deal_opened", event.opened_at,
                    f"Opportunity opened: {_money(event.amount_minor, event.currency)}", None,
                    {"deal_id": str(event.deal_id), "amount_minor": event.amount_minor,
                     "currency": event.currency})
        case DealClosed():
            why = f" ({event.lost_reason})" if event.lost_reason else ""
            return (f"deal_{event.outcome}", event.closed_at,
                    f"Deal {event.outcome}: {_money(event.amount_minor, event.currency)}{why}",
                    None, {"deal_id": str(event.deal_id), "outcome": event.outcome,
                           "amount_minor": event.amount_minor, "currency": event.currency,
                           "lost_reason": event.lost_reason})
        case LeadClosed():
            note = f": {event.note}" if event.note else ""
            return ("closed_not_converted", event.closed_at,
                    f"Closed, not converted ({event.reason.replace('_', ' ')}){note}", None,
                    {"closure_id": str(event.closure_id), "reason": event.reason,
                     "note": event.note})
        case LeadStageChanged():
            previous = event.previous_stage or "none"
            why = (f"reset by {event.by.name if event.by else 'an admin'}"
                   + (f": {event.reason}" if event.reason else "")) if event.reset \
                else f"after {event.cause.removeprefix('leadloop.').rsplit('.v', 1)[0]}"
            return ("stage_changed", event.changed_at,
                    f"Lifecycle stage {previous} → {event.stage} ({why})", _by(event.by),
                    {"stage": event.stage, "previous_stage": event.previous_stage,
                     "cause": event.cause, "cause_id": event.cause_id, "reset": event.reset,
                     "reason": event.reason})
    return None


_PLAIN: frozenset[type] = frozenset({str, int, float, bool})
# The most frequent events here (page views, and the scores they cause) have their details built
# as stored (plain JSON, no None values), so their rows take them as they are.
_BUILT_AS_STORED: frozenset[type] = frozenset({LeadActivity, LeadScored})


def _jsonable(value: Any) -> Any:
    """`value` as the timeline keeps it: times as ISO text, no None values in objects. Plain
    values are taken without a call: every consumed event passes here."""
    cls = value.__class__
    if cls is dict:
        return {k: v if v.__class__ in _PLAIN else _jsonable(v)
                for k, v in value.items() if v is not None}
    if cls is list:
        return [v if v.__class__ in _PLAIN else _jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def timeline_rows(items: Sequence[Item[EventData]]) -> list[dict[str, Any]]:
    """The timeline rows a batch adds, one per event with an entry, each event once."""
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        entry = _entry(item.event)
        lead_id: UUID | None = getattr(item.event, "lead_id", None)
        if entry is None or lead_id is None or item.envelope.id in rows:
            continue
        kind, occurred_at, summary, actor, detail = entry
        rows[item.envelope.id] = {
            "entry_id": item.envelope.id, "lead_id": lead_id, "occurred_at": occurred_at,
            "type": event_type_of(item.event), "kind": kind, "summary": summary[:500],
            "actor": actor,
            "detail": detail if item.event.__class__ in _BUILT_AS_STORED else _jsonable(detail)}
    return list(rows.values())
