"""Every LeadLoop event's data, as frozen pydantic models in one discriminated union.

The discriminator is the CloudEvents `type`, which travels in the envelope (the `ce_type` header),
never inside `data`: each model's `type` field is excluded when serialized and filled from the
header when parsed. Add optional fields freely within a version; anything breaking is a new
version (a new class with the next `.vN` type) plus an upcaster.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

PropertyValue = str | int | float | bool | None


class Frozen(BaseModel):
    """Base of every event part: immutable, unknown fields kept out."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class PostalAddress(Frozen):
    """Where letters reach the lead (direct mail): normalized, country as ISO 3166-1 alpha-2."""

    street: str
    city: str
    postal_code: str | None = None
    region: str | None = None
    country: str = Field(description="ISO 3166-1 alpha-2")


class LeadProfile(Frozen):
    """Who the lead is: normalized identity and firmographics, plus custom properties."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    job_title: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2")
    region: str | None = None
    industry: str | None = None
    company_size: int | None = Field(default=None, ge=0)
    website: str | None = None
    time_zone: str | None = Field(default=None, description="IANA time zone name")
    properties: dict[str, PropertyValue] = Field(default_factory=dict)
    postal_address: PostalAddress | None = Field(default=None, description="sealed like email")


class Consent(Frozen):
    """What the person agreed to, and to which wording."""

    email_marketing: bool = False
    text: str | None = None
    version: str | None = None
    given_at: AwareDatetime | None = None
    sales_contact: bool = Field(default=False, description="may sales contact this person")
    lawful_basis: str | None = Field(
        default=None, description="consent, legitimate_interest or contract (GDPR art. 6)")
    source: str | None = Field(default=None, description="where it was given: form:<id>, "
                               "import, api")


CONSENT_PURPOSES = ("email_marketing", "sales_contact")
"""The purposes a Consent grants or withholds (lead.consent_changed's `purpose`)."""


class LeadSource(Frozen):
    """Where a lead or a touch came from: channel and campaign with UTM fields."""

    channel: str = Field(default="api", description="form, import, api, tracking, ...")
    campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    referrer: str | None = None
    landing_page: str | None = None


class ScoreContribution(Frozen):
    """One rule's share of a score, and what caused it."""

    rule_id: str
    points: int
    reason: str
    model_version: int
    event_id: str | None = None


class ActivitySummary(Frozen):
    """A recent activity, as a rep sees it in a handoff."""

    kind: str
    occurred_at: AwareDatetime
    url: str | None = None


class RepRef(Frozen):
    """The rep a lead was assigned to."""

    id: UUID
    name: str
    email: str
    team: str | None = None


class Actor(Frozen):
    """Who did a sales action: the API key's name and, for a key bound to a rep, the rep."""

    name: str
    rep_id: UUID | None = None


class RejectionReason(StrEnum):
    """Why sales rejected a lead."""

    not_a_fit = "not_a_fit"
    no_budget = "no_budget"
    bad_timing = "bad_timing"
    duplicate = "duplicate"
    spam = "spam"
    other = "other"


class EventData(Frozen):
    """Base of every event's data. `type` is the envelope's, so it is never serialized."""


# --- capture -------------------------------------------------------------------------------


class LeadCreated(EventData):
    """Sent by capture when a person is seen for the first time (new normalized email)."""

    type: Literal["leadloop.lead.created.v1"] = Field("leadloop.lead.created.v1", exclude=True)
    lead_id: UUID
    profile: LeadProfile
    consent: Consent = Consent()
    source: LeadSource = LeadSource()
    form_id: str | None = None
    created_at: AwareDatetime


class LeadUpdated(EventData):
    """Sent by capture when a known lead's profile or consent changes; carries the full profile."""

    type: Literal["leadloop.lead.updated.v1"] = Field("leadloop.lead.updated.v1", exclude=True)
    lead_id: UUID
    profile: LeadProfile
    consent: Consent = Consent()
    changed_fields: list[str] = Field(default_factory=list)
    updated_at: AwareDatetime


class LeadActivity(EventData):
    """Sent by capture (tracking, form submissions) and nurture (email opens, clicks)."""

    type: Literal["leadloop.lead.activity.v1"] = Field("leadloop.lead.activity.v1", exclude=True)
    lead_id: UUID
    activity_id: UUID
    kind: str = Field(description="page_view, form_submitted, email_opened, email_clicked, ...")
    occurred_at: AwareDatetime
    url: str | None = None
    source: LeadSource = LeadSource()
    properties: dict[str, PropertyValue] = Field(default_factory=dict)


class LeadConsentChanged(EventData):
    """Sent by capture for every change of a lead's consent to one purpose."""

    type: Literal["leadloop.lead.consent_changed.v1"] = Field(
        "leadloop.lead.consent_changed.v1", exclude=True
    )
    lead_id: UUID
    purpose: str = Field(description="email_marketing or sales_contact")
    granted: bool
    lawful_basis: str | None = None
    text: str | None = None
    version: str | None = None
    source: str | None = None
    changed_at: AwareDatetime


class LeadMerged(EventData):
    """Sent by capture when an admin merges a duplicate into a lead; the duplicate's history
    now belongs to `lead_id`, and `profile` is the surviving lead's merged profile."""

    type: Literal["leadloop.lead.merged.v1"] = Field("leadloop.lead.merged.v1", exclude=True)
    lead_id: UUID
    merged_lead_id: UUID
    merge_id: UUID
    profile: LeadProfile
    merged_at: AwareDatetime


class LeadUnmerged(EventData):
    """Sent by capture when a merge is undone: both leads exist again as before it."""

    type: Literal["leadloop.lead.unmerged.v1"] = Field("leadloop.lead.unmerged.v1",
                                                       exclude=True)
    lead_id: UUID
    restored_lead_id: UUID
    merge_id: UUID
    profile: LeadProfile
    restored_profile: LeadProfile
    unmerged_at: AwareDatetime


class LeadErased(EventData):
    """Sent by capture when a person's data must be deleted everywhere (GDPR erasure)."""

    type: Literal["leadloop.lead.erased.v1"] = Field("leadloop.lead.erased.v1", exclude=True)
    lead_id: UUID
    erased_at: AwareDatetime


# --- scoring -------------------------------------------------------------------------------


class LeadScored(EventData):
    """Sent by scoring every time a lead's score, grade or MQL status changes."""

    type: Literal["leadloop.lead.scored.v1"] = Field("leadloop.lead.scored.v1", exclude=True)
    lead_id: UUID
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    model_version: int
    is_mql: bool
    contributions: list[ScoreContribution] = Field(default_factory=list)
    scored_at: AwareDatetime
    win_probability: float | None = Field(
        default=None, ge=0, le=1, description="the learned model's win probability, if trained")


class LeadQualified(EventData):
    """Sent by scoring once when a lead becomes an MQL; carries what handoff needs to route it."""

    type: Literal["leadloop.lead.qualified.v1"] = Field("leadloop.lead.qualified.v1", exclude=True)
    lead_id: UUID
    score: int
    grade: str
    model_version: int
    contributions: list[ScoreContribution] = Field(default_factory=list)
    profile: LeadProfile
    consent: Consent = Consent()
    source: LeadSource = LeadSource()
    recent_activities: list[ActivitySummary] = Field(default_factory=list)
    qualified_at: AwareDatetime
    win_probability: float | None = Field(
        default=None, ge=0, le=1, description="the learned model's win probability, if trained")
    lead_created_at: AwareDatetime | None = Field(
        default=None, description="when capture created the lead (its lead.created): speed to "
        "lead is measured from it; absent when scoring has not seen the lead's creation")


class LeadDisqualified(EventData):
    """Sent by scoring when a disqualifier matches (competitor, student, do-not-contact)."""

    type: Literal["leadloop.lead.disqualified.v1"] = Field(
        "leadloop.lead.disqualified.v1", exclude=True
    )
    lead_id: UUID
    rule_id: str
    reason: str
    model_version: int
    disqualified_at: AwareDatetime


# --- handoff -------------------------------------------------------------------------------


class LeadHandedOff(EventData):
    """Sent by handoff when a qualified lead is assigned: everything a rep needs to pitch."""

    type: Literal["leadloop.lead.handed_off.v1"] = Field(
        "leadloop.lead.handed_off.v1", exclude=True
    )
    lead_id: UUID
    assignment_id: UUID
    rep: RepRef | None = Field(description="None when the lead waits in the fallback queue")
    routing_rule: str
    routing_reason: str
    profile: LeadProfile
    consent: Consent = Consent()
    score: int
    grade: str
    contributions: list[ScoreContribution] = Field(default_factory=list)
    source: LeadSource = LeadSource()
    recent_activities: list[ActivitySummary] = Field(default_factory=list)
    qualified_at: AwareDatetime
    handed_off_at: AwareDatetime
    sla_deadline: AwareDatetime | None = None
    assigned_by: Actor | None = Field(
        default=None, description="the manager who assigned it by hand (routing_rule 'manual')")
    lifecycle_stage: str | None = Field(
        default=None, description="the lead's lifecycle stage as handoff last heard it "
        "(leadloop.lifecycle), e.g. customer for an existing customer's new interest")
    account: str | None = Field(default=None, description="the lead's account (company "
                                "domain), when it belongs to one")


class LeadAccepted(EventData):
    """Sent by handoff when the assigned rep accepts the lead (sales-accepted lead)."""

    type: Literal["leadloop.lead.accepted.v1"] = Field("leadloop.lead.accepted.v1", exclude=True)
    lead_id: UUID
    assignment_id: UUID
    rep_id: UUID
    accepted_at: AwareDatetime
    by: Actor | None = None


class LeadRejected(EventData):
    """Sent by handoff when sales rejects a lead; nurture recycles it, outcomes reports it."""

    type: Literal["leadloop.lead.rejected.v1"] = Field("leadloop.lead.rejected.v1", exclude=True)
    lead_id: UUID
    assignment_id: UUID
    rep_id: UUID
    reason_code: RejectionReason
    note: str | None = None
    rejected_at: AwareDatetime
    by: Actor | None = None


class LeadContacted(EventData):
    """Sent by handoff at a rep's first touch of a lead."""

    type: Literal["leadloop.lead.contacted.v1"] = Field("leadloop.lead.contacted.v1", exclude=True)
    lead_id: UUID
    assignment_id: UUID
    rep_id: UUID
    channel: str | None = None
    contacted_at: AwareDatetime
    by: Actor | None = None


class LeadSlaBreached(EventData):
    """Sent by handoff when a rep lets the accept deadline pass; the lead moves on."""

    type: Literal["leadloop.lead.sla_breached.v1"] = Field(
        "leadloop.lead.sla_breached.v1", exclude=True
    )
    lead_id: UUID
    assignment_id: UUID
    rep_id: UUID | None
    deadline: AwareDatetime
    action: str = Field(description="reassigned, escalated or queued")
    next_rep_id: UUID | None = None
    breached_at: AwareDatetime


# --- nurture -------------------------------------------------------------------------------


class NurtureMessageSent(EventData):
    """Sent by nurture for every message that left through a channel."""

    type: Literal["leadloop.nurture.message_sent.v1"] = Field(
        "leadloop.nurture.message_sent.v1", exclude=True
    )
    lead_id: UUID
    message_id: UUID
    sequence_id: str
    step: int
    channel: str
    template: str
    sent_at: AwareDatetime


class LeadUnsubscribed(EventData):
    """Sent by nurture when a person unsubscribes from a channel."""

    type: Literal["leadloop.lead.unsubscribed.v1"] = Field(
        "leadloop.lead.unsubscribed.v1", exclude=True
    )
    lead_id: UUID
    channel: str = "email"
    unsubscribed_at: AwareDatetime


# --- outcomes ------------------------------------------------------------------------------


class DealOpened(EventData):
    """Sent by outcomes when sales opens an opportunity for a lead."""

    type: Literal["leadloop.deal.opened.v1"] = Field("leadloop.deal.opened.v1", exclude=True)
    lead_id: UUID
    deal_id: UUID
    external_id: str
    amount_minor: int = Field(ge=0, description="amount in minor units (cents)")
    currency: str = Field(pattern="^[A-Z]{3}$")
    opened_at: AwareDatetime


class DealClosed(EventData):
    """Sent by outcomes when a deal is won or lost; scoring learns from it."""

    type: Literal["leadloop.deal.closed.v1"] = Field("leadloop.deal.closed.v1", exclude=True)
    lead_id: UUID
    deal_id: UUID
    external_id: str
    outcome: Literal["won", "lost"]
    amount_minor: int = Field(ge=0, description="amount in minor units (cents)")
    currency: str = Field(pattern="^[A-Z]{3}$")
    lost_reason: str | None = None
    closed_at: AwareDatetime


class LeadQueueAlert(EventData):
    """Sent by handoff when a lead waits in the fallback queue (no rep could take it): once as
    it enters, then again every LEADLOOP_HANDOFF_QUEUE_REALERT_S while it is still there. The
    team's managers get it by webhook and by email; a manager assigns it by hand."""

    type: Literal["leadloop.lead.queue_alert.v1"] = Field(
        "leadloop.lead.queue_alert.v1", exclude=True
    )
    lead_id: UUID
    assignment_id: UUID
    team: str
    reason: str = Field(description="why no rep could take it")
    queued_at: AwareDatetime
    alert: int = Field(ge=1, description="1 when it enters the queue, then 2, 3, ...")
    waited_s: float = Field(ge=0, description="time in the queue when this alert went out")
    managers: list[RepRef] = Field(default_factory=list, description="who is alerted")
    alerted_at: AwareDatetime


class LeadClosed(EventData):
    """Sent by outcomes when sales or an integration closes a lead as not converted (never an
    opportunity, or gone cold); scoring learns from it as a negative outcome."""

    type: Literal["leadloop.lead.closed.v1"] = Field("leadloop.lead.closed.v1", exclude=True)
    lead_id: UUID
    closure_id: UUID
    reason: str = Field(description="why it was closed, e.g. no_response, chose_competitor")
    note: str | None = None
    closed_at: AwareDatetime


class LeadStageChanged(EventData):
    """Sent by outcomes when a lead's lifecycle stage changes (leadloop.lifecycle): forward,
    because of the event named in `cause`, or by an admin's reset (`reset`, any direction)."""

    type: Literal["leadloop.lead.stage_changed.v1"] = Field(
        "leadloop.lead.stage_changed.v1", exclude=True
    )
    lead_id: UUID
    stage: str = Field(description="the new stage (leadloop.lifecycle.LifecycleStage)")
    previous_stage: str | None = Field(default=None, description="None for the first stage")
    cause: str = Field(description="the event type that moved it, or admin_reset")
    cause_id: str | None = Field(default=None, description="the causing event's id (a deal's "
                                 "id for deal.closed)")
    reset: bool = Field(default=False, description="an admin reset, not a forward move")
    reason: str | None = Field(default=None, description="why an admin reset it")
    by: Actor | None = Field(default=None, description="who reset it")
    changed_at: AwareDatetime


class LeadExpansionQualified(EventData):
    """Sent by scoring once per purchase when a customer's expansion score (engagement since
    their last won deal, under the active expansion model) reaches its threshold: the customer
    may buy again; handoff gives it to the account owner (reason existing_customer)."""

    type: Literal["leadloop.lead.expansion_qualified.v1"] = Field(
        "leadloop.lead.expansion_qualified.v1", exclude=True
    )
    lead_id: UUID
    score: int = Field(description="the expansion score")
    grade: str
    model_version: int = Field(description="the expansion model version that scored it")
    contributions: list[ScoreContribution] = Field(default_factory=list)
    profile: LeadProfile
    consent: Consent = Consent()
    source: LeadSource = LeadSource()
    recent_activities: list[ActivitySummary] = Field(default_factory=list)
    customer_since: AwareDatetime = Field(description="when the customer's last won deal closed")
    qualified_at: AwareDatetime
    repeat_probability: float | None = Field(
        default=None, ge=0, le=1,
        description="the learned probability of another won deal, if the model was trained")


DomainEvent = Annotated[
    LeadCreated
    | LeadUpdated
    | LeadActivity
    | LeadErased
    | LeadConsentChanged
    | LeadMerged
    | LeadUnmerged
    | LeadScored
    | LeadQualified
    | LeadDisqualified
    | LeadHandedOff
    | LeadAccepted
    | LeadRejected
    | LeadContacted
    | LeadSlaBreached
    | NurtureMessageSent
    | LeadUnsubscribed
    | DealOpened
    | DealClosed
    | LeadQueueAlert
    | LeadClosed
    | LeadStageChanged
    | LeadExpansionQualified,
    Field(discriminator="type"),
]
"""Every event LeadLoop publishes, discriminated by its versioned CloudEvents type."""

EVENT_ADAPTER: TypeAdapter[DomainEvent] = TypeAdapter(DomainEvent)

EVENT_TYPES: dict[str, type[EventData]] = {
    model.model_fields["type"].default: model
    for model in EventData.__subclasses__()
}


def parse_event(event_type: str, data: dict[str, Any]) -> EventData:
    """Validate `data` as the event `event_type`; raises pydantic.ValidationError."""
    model = EVENT_TYPES.get(event_type)
    if model is None:  # not one of ours: let the union say so, as it always has
        parsed: EventData = EVENT_ADAPTER.validate_python({**data, "type": event_type})
        return parsed
    # Straight to the class (its `type` is a constant default): no copy of the data, no
    # dispatch through the union.
    return model.model_validate(data)


def event_type_of(event: EventData | type[EventData]) -> str:
    """The versioned CloudEvents type of an event's data (or of its class)."""
    cls = event if isinstance(event, type) else type(event)
    value: str = cls.model_fields["type"].default
    return value


def event_time_now() -> datetime:
    """Now, timezone-aware UTC: every event time is."""
    return datetime.now(UTC)
