"""Bulk import's fast path (one batch folded in memory, written set-wise) gives exactly what
posting the same rows one at a time through the single-submission rules gives."""

import io
import itertools
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from capture.imports.chunks import prepare_chunk
from capture.imports.domain import (
    StoredLead,
    detect_delimiter,
    fast_profile,
    plan_batch,
    row_errors,
    row_to_body,
    row_to_lead,
)
from capture.imports.service import csv_rows
from capture.leads.domain import merge_lead
from capture.leads.validation import LeadIn
from leadloop.events.models import Consent, LeadProfile, event_time_now
from tests.support.lead_bodies import lead_bodies

EMAILS = ["ann@example.com", "bo@example.com", "cy@example.com"]
NOW = event_time_now()


def lead_rows() -> st.SearchStrategy[LeadIn]:
    return lead_bodies(EMAILS, {"first_name": ["Ann", " Ann ", "Bo", ""],
                                "company": ["Acme", "Initech", ""], "country": ["de", "FR", ""],
                                "company_size": ["", "10", "250"]}).map(LeadIn.model_validate)


@st.composite
def stored_leads(draw: st.DrawFn) -> dict[str, StoredLead]:
    known = draw(st.lists(st.sampled_from(EMAILS), unique=True))
    return {email: StoredLead(uuid.uuid4(), LeadProfile(
        email=email, first_name=draw(st.sampled_from([None, "Old"])),
        company=draw(st.sampled_from([None, "Acme"]))), Consent(
        email_marketing=draw(st.booleans()))) for email in known}


def one_at_a_time(existing: dict[str, StoredLead], rows: list[LeadIn]
                  ) -> tuple[dict[str, tuple[LeadProfile, Consent]], list[tuple[str, Any]]]:
    """What POST /v1/leads does per row (the single-submission rules), row by row."""
    db = {email: (s.profile, s.consent) for email, s in existing.items()}
    outcomes: list[tuple[str, Any]] = []
    for lead_in in rows:
        profile = lead_in.profile()
        if profile.email not in db:
            db[profile.email] = (profile, lead_in.consent)
            outcomes.append(("created", (profile, lead_in.consent)))
            continue
        given_consent = lead_in.consent if "consent" in lead_in.model_fields_set else None
        merged, consent, changed = merge_lead(*db[profile.email], profile, given_consent)
        if changed:
            db[profile.email] = (merged, consent)
            outcomes.append(("updated", (merged, consent, changed)))
        else:
            outcomes.append(("unchanged", db[profile.email]))
    return db, outcomes


@settings(max_examples=300, deadline=None)
@given(existing=stored_leads(), rows=st.lists(lead_rows(), max_size=12))
def test_batch_plan_writes_and_events_equal_posting_rows_one_at_a_time(
        existing: dict[str, StoredLead], rows: list[LeadIn]) -> None:
    plan = plan_batch(existing, rows)
    expected_db, expected_outcomes = one_at_a_time(existing, rows)

    after = {email: (s.profile, s.consent) for email, s in existing.items()}
    for email, stored in itertools.chain(plan.inserts.items(), plan.updates.items()):
        after[email] = (stored.profile, stored.consent)
    assert after == expected_db
    assert not set(plan.inserts) & set(existing), "a known lead is never inserted again"

    got: list[tuple[str, Any]] = []
    for effect in plan.effects:
        if effect.status == "updated":
            got.append((effect.status, (effect.profile, effect.consent, effect.changed)))
        else:
            got.append((effect.status, (effect.profile, effect.consent)))
    assert got == expected_outcomes

    ids: dict[str, uuid.UUID] = {}
    for effect, lead_in in zip(plan.effects, rows, strict=True):
        email = lead_in.profile().email
        ids.setdefault(email, effect.lead_id)
        assert ids[email] == effect.lead_id, "every row of one email hits one lead"
        if email in existing:
            assert effect.lead_id == existing[email].id


def test_csv_row_is_validated_exactly_like_the_api_body() -> None:
    mapping = {"Mail": "email", "Name": "first_name", "Size": "company_size",
               "Team": "properties.team", "OK": "consent.email_marketing"}
    row = {"Mail": " Ann@Example.COM ", "Name": "  Ann  ", "Size": "40", "Team": "ops",
           "OK": "yes"}
    lead = row_to_lead(row, mapping, "fair", NOW)
    api = LeadIn.model_validate({"email": " Ann@Example.COM ", "first_name": "  Ann  ",
                                 "company_size": "40", "properties": {"team": "ops"}})
    assert lead.profile() == api.profile()
    assert lead.consent.email_marketing is True and lead.source.channel == "import"


def test_separator_is_read_from_the_header_line() -> None:
    assert detect_delimiter("email,first_name\r\n") == ","
    assert detect_delimiter("E-Mail;Vorname;Firma\r\n") == ";"  # Excel in many locales
    assert detect_delimiter("email\tcompany\n") == "\t"
    assert detect_delimiter('"Name; full",email\n') == ","  # quoted separators do not count
    assert detect_delimiter("email\n") == ","


def test_a_nul_character_fails_its_row_naming_the_field_not_the_import() -> None:
    mapping = {"email": "email", "first_name": "first_name", "note": "properties.note"}
    for row, field in (({"email": "a@example.com", "first_name": "A\x00"}, "first_name"),
                       ({"email": "a@example.com", "note": "x\x00y"}, "properties"),
                       ({"email": "a\x00@example.com"}, "email")):
        body = row_to_body(row, mapping, None, event_time_now())
        assert fast_profile(body) is None
        with pytest.raises(ValidationError) as caught:
            LeadIn.model_validate(body)
        errors = row_errors(7, caught.value)
        assert [(e["row"], e["field"]) for e in errors] == [(7, field)]
        assert all("\x00" not in e["reason"] for e in errors)  # storable as jsonb


def test_a_row_the_csv_reader_cannot_parse_fails_alone_and_keeps_its_number() -> None:
    big = "x" * 200_000  # past the csv module's field limit
    data = (f"email;note\r\na@example.com;ok\r\nb@example.com;{big}\r\n"
            "c@example.com;n\x00\r\nd@example.com;ok\r\n").encode()
    chunk = prepare_chunk(csv_rows(io.BytesIO(data)), 2, 100,
                          {"email": "email", "note": "properties.note"}, None)
    assert chunk.row_count == 4
    assert [email for email, _, _ in chunk.records] == ["a@example.com", "d@example.com"]
    assert [(e["row"], e["field"]) for e in chunk.errors] == [(3, "row"), (4, "properties")]
    assert "field limit" in chunk.errors[0]["reason"]
