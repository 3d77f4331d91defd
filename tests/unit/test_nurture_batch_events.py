"""What each consumed event changes in nurture (handlers.change_of), and the one handler that
takes them all, so a batch of any mix of types is applied as one batch."""

import uuid
from datetime import UTC, datetime

from leadloop.events.models import (
    Consent,
    DealOpened,
    LeadActivity,
    LeadConsentChanged,
    LeadCreated,
    LeadMerged,
    LeadProfile,
    LeadSource,
)
from nurture.handlers import HANDLERS, change_of
from nurture.leads.changes import ConsentChanged, Created, Engaged, Exited
from nurture.sequences.catalog import Catalog
from nurture.sequences.domain import EntryRule, ExitReason, Sequence

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEAD = uuid.uuid4()


def _activity(kind: str) -> LeadActivity:
    return LeadActivity(lead_id=LEAD, activity_id=uuid.uuid4(), kind=kind, occurred_at=T0,
                        url="https://widgets.example/pricing")


def test_every_consumed_event_type_goes_to_one_batch_handler() -> None:
    handlers = {HANDLERS.handler_for(t) for t in HANDLERS.event_types}
    assert len(handlers) == 1
    assert "leadloop.lead.created.v1" in HANDLERS and "leadloop.deal.closed.v1" in HANDLERS


def test_a_created_lead_brings_its_contact_details_and_segment_attributes() -> None:
    change = change_of(LeadCreated(
        lead_id=LEAD, created_at=T0, form_id="demo",
        profile=LeadProfile(email="lee@widgets.example", country="DE",
                            properties={"plan": "pro"}),
        consent=Consent(email_marketing=True),
        source=LeadSource(channel="form", utm_campaign="spring")))
    assert isinstance(change, Created)
    assert (change.consent, change.profile and change.profile["email"]) == \
        (True, "lee@widgets.example")
    assert change.attributes == {"plan": "pro", "country": "DE", "channel": "form",
                                 "utm_campaign": "spring", "form_id": "demo"}


def test_activities_a_branch_watches_engage_a_reply_exits_others_change_nothing() -> None:
    assert isinstance(change_of(_activity("page_view")), Engaged)
    assert change_of(_activity("email_replied")) == Exited(LEAD, ExitReason.replied, T0)
    assert change_of(_activity("form_submitted")) is None


def test_only_email_marketing_consent_counts() -> None:
    def consent(purpose: str) -> LeadConsentChanged:
        return LeadConsentChanged(lead_id=LEAD, purpose=purpose, granted=False, changed_at=T0)
    assert change_of(consent("email_marketing")) == ConsentChanged(LEAD, False, T0)
    assert change_of(consent("sales_contact")) is None


def test_a_deal_opened_exits_sequences_that_end_on_a_new_deal() -> None:
    assert "leadloop.deal.opened.v1" in HANDLERS
    opened = DealOpened(lead_id=LEAD, deal_id=uuid.uuid4(), external_id="crm-2",
                        amount_minor=500_00, currency="EUR", opened_at=T0)
    assert change_of(opened) == Exited(LEAD, ExitReason.deal_opened, T0)


def test_a_merge_stops_the_duplicate_not_the_lead_it_merged_into() -> None:
    duplicate = uuid.uuid4()
    change = change_of(LeadMerged(lead_id=LEAD, merged_lead_id=duplicate, merge_id=uuid.uuid4(),
                                  profile=LeadProfile(email="lee@widgets.example"),
                                  merged_at=T0))
    assert change == Exited(duplicate, ExitReason.merged, T0)


def test_the_catalog_enrolls_into_live_versions_and_keeps_every_versions_exits() -> None:
    steps: list = [{"kind": "send_email", "template": "welcome"}]  # type: ignore[type-arg]
    old, live = (Sequence(key="welcome", version=v, entry_rule=EntryRule.new_unqualified_lead,
                          active=v == 2, steps=steps, exit_on=[ExitReason.replied])
                 for v in (1, 2))
    catalog = Catalog({(s.key, s.version): s for s in (old, live)})
    assert catalog.live(EntryRule.new_unqualified_lead) == [live]
    assert catalog.live(EntryRule.deal_won) == []
    assert ExitReason.replied in catalog.exit_rules[("welcome", 1)]
    assert catalog.knows([("welcome", 1)]) and not catalog.knows([("welcome", 3)])
