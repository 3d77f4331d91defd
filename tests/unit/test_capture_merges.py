"""Undoing a merge takes back exactly what the duplicate brought, and nothing changed since."""

from capture.leads.domain import consent_changes, merge_consent
from capture.merges.domain import filled_by_merge, undo_profile
from leadloop.events.models import Consent, LeadProfile


def test_undo_removes_what_the_duplicate_filled_and_keeps_later_changes() -> None:
    before = LeadProfile(email="ann@example.com", first_name="Ann", properties={"a": "1"})
    duplicate = LeadProfile(email="annie@example.com", first_name="Annie", company="Acme",
                            job_title="CTO", properties={"a": "2", "b": "3"})
    assert filled_by_merge(before, duplicate) == {"company": "Acme", "job_title": "CTO",
                                                  "properties.b": "3"}
    after_merge_and_edit = LeadProfile(email="ann@example.com", first_name="Ann",
                                       company="Acme Corp", job_title="CTO",
                                       properties={"a": "1", "b": "3"})
    assert undo_profile(after_merge_and_edit, before, duplicate) == LeadProfile(
        email="ann@example.com", first_name="Ann", company="Acme Corp",
        properties={"a": "1"})


def test_consent_for_one_purpose_never_withdraws_another() -> None:
    current = Consent(email_marketing=True, sales_contact=False, version="v1")
    incoming = Consent.model_validate({"sales_contact": True, "version": "v2"})
    merged = merge_consent(current, incoming)
    assert (merged.email_marketing, merged.sales_contact, merged.version) == (True, True, "v2")
    assert consent_changes(current, merged) == [("sales_contact", True)]
    assert consent_changes(None, merged) == [("email_marketing", True), ("sales_contact", True)]
