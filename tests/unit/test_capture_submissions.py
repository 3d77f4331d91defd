"""Form submissions' pure rules: mapping, validation naming the form's own fields, spam checks,
rate limits and the embed script's escaping."""

from typing import Any

import pytest

from capture.config import CaptureSettings
from capture.forms.definition import FormConfigIn
from capture.submissions.domain import (
    SubmissionInvalid,
    issue_token,
    map_submission,
    spam_reason,
    token_age_s,
    unverified_reason,
    wants_html,
)
from capture.submissions.embed import _js_literal, render_embed_script
from leadloop.events.models import event_time_now
from leadloop.ratelimit import retry_after_s

SECRET = b"s" * 32


def _form(**overrides: Any) -> FormConfigIn:
    config: dict[str, Any] = {
        "name": "Demo request",
        "fields": [{"name": "work_email", "type": "email", "maps_to": "email", "required": True},
                   {"name": "fname", "maps_to": "first_name"},
                   {"name": "employees", "type": "number", "maps_to": "company_size"},
                   {"name": "use_case", "type": "textarea", "max_length": 20},
                   {"name": "agree", "type": "consent"}],
        "consent_text": "Email me", "consent_version": "v3"}
    config.update(overrides)
    return FormConfigIn.model_validate(config)


def _errors(form: FormConfigIn, body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SubmissionInvalid) as caught:
        map_submission("frm_1", form, body, event_time_now())
    return {e["field"]: e["reason"] for e in caught.value.errors}


def test_fields_map_to_lead_properties_custom_properties_consent_and_utm_source() -> None:
    mapped = map_submission("frm_1", _form(campaign="spring"), {
        "work_email": " Ann@Example.COM ", "fname": "  Ann ", "employees": "40",
        "use_case": "routing", "agree": "on", "utm_source": "linkedin",
        "_landing_page": "https://site.example/demo?utm_source=linkedin",
        "_visitor_id": "visitor-123", "favourite": "tea"}, event_time_now())
    profile = mapped.lead.profile()
    assert profile.email == "ann@example.com" and profile.first_name == "Ann"
    assert profile.company_size == 40
    assert profile.properties == {"use_case": "routing", "favourite": "tea"}
    assert mapped.lead.consent.email_marketing and mapped.lead.consent.version == "v3"
    assert mapped.lead.source.utm_source == "linkedin" and mapped.lead.source.campaign == "spring"
    assert mapped.visitor_id == "visitor-123"


def test_errors_name_the_forms_own_inputs_not_lead_fields() -> None:
    errors = _errors(_form(), {"work_email": "nope", "employees": "many",
                               "use_case": "x" * 21})
    assert set(errors) == {"work_email", "employees", "use_case"}
    assert "@" in errors["work_email"]


def test_required_field_and_strict_mode_unknown_field_are_refused() -> None:
    errors = _errors(_form(mode="strict"), {"fname": "Ann", "colour": "red"})
    assert errors == {"work_email": "is required", "colour": "is not a field of this form"}


def test_markup_is_kept_verbatim_as_text() -> None:
    text = "<script>alert(1)</script>"
    mapped = map_submission("frm_1", _form(), {"work_email": "a@example.com", "fname": text},
                            event_time_now())
    assert mapped.lead.profile().first_name == text


def test_honeypot_and_fill_time_token_tell_bots_from_people() -> None:
    form = _form(spam={"honeypot_field": "hp", "min_fill_seconds": 3})
    token = issue_token("frm_1", SECRET, now_s=1000.0)
    person = {"work_email": "a@example.com", "_ts": token}
    assert spam_reason("frm_1", form, person, SECRET, now_s=1004.0) is None
    assert spam_reason("frm_1", form, person, SECRET, now_s=1001.0) == "filled_too_fast"
    assert spam_reason("frm_1", form, {**person, "hp": "x"}, SECRET, 1004.0) == "honeypot"
    assert token_age_s("frm_1", token, b"other" * 8, 1004.0) is None
    assert token_age_s("frm_1", token, SECRET, 1000.0 + 2 * 86_400) is None


def test_submission_without_a_valid_fill_time_token_is_unverified_not_spam() -> None:
    form = _form(spam={"honeypot_field": "hp", "min_fill_seconds": 3})
    no_js = {"work_email": "a@example.com"}  # a plain HTML post: no embed script, no token
    assert spam_reason("frm_1", form, no_js, SECRET, now_s=1004.0) is None
    assert unverified_reason("frm_1", form, no_js, SECRET, 1004.0) == "missing_fill_time_token"
    token = issue_token("frm_1", SECRET, now_s=1000.0)
    for foreign in ({**no_js, "_ts": token}, {**no_js, "_ts": "1000." + "0" * 32}):
        assert spam_reason("frm_2", form, foreign, SECRET, 1004.0) is None
        assert unverified_reason("frm_2", form, foreign, SECRET, 1004.0) == (
            "invalid_fill_time_token")
    stale = {**no_js, "_ts": token}  # the page was left open for two days
    assert unverified_reason("frm_1", form, stale, SECRET, 1000.0 + 2 * 86_400) == (
        "invalid_fill_time_token")
    assert unverified_reason("frm_1", form, stale, SECRET, 1004.0) is None
    assert unverified_reason("frm_1", _form(), no_js, SECRET, 1004.0) is None  # no minimum


def test_sliding_window_allows_a_minutes_allowance_then_asks_to_wait() -> None:
    # retry_after_s(hits this minute, hits last minute, seconds into this minute, limit)
    assert retry_after_s(2, 0, 10.0, 2) == 0
    assert retry_after_s(3, 0, 10.0, 2) == 50  # this minute alone is over: until it ends
    # Last minute's 4 hits still weigh 3 at 15 s in; 1 + 3 > 2 until 4 * (1 - t/60) <= 1.
    assert retry_after_s(1, 4, 15.0, 2) == 30
    assert retry_after_s(1, 4, 45.0, 2) == 0
    assert retry_after_s(2, 4, 59.5, 2) == 1


def test_browsers_get_redirects_and_api_clients_get_json() -> None:
    assert wants_html("application/x-www-form-urlencoded", "text/html,*/*")
    assert wants_html("multipart/form-data", "text/html")
    assert not wants_html("application/json", "text/html")
    assert not wants_html("application/x-www-form-urlencoded", "application/json")


def test_embed_script_config_cannot_break_out_of_its_script() -> None:
    assert _js_literal("</script><b>\u2028") == '"\\u003c/script\\u003e\\u003cb\\u003e\\u2028"'
    form = _form(consent_text="</script><script>alert(1)</script>")
    script = render_embed_script("frm_1", form, "pfk_x", "http://127.0.0.1:1", SECRET)
    assert "</script>" not in script and "__LEADLOOP_CONFIG__" not in script


def test_form_config_refuses_bad_origins_duplicate_names_and_no_email() -> None:
    with pytest.raises(ValueError, match="origin"):
        _form(allowed_origins=["javascript:alert(1)"])
    with pytest.raises(ValueError, match="unique"):
        _form(fields=[{"name": "email"}, {"name": "email"}])
    with pytest.raises(ValueError, match="email"):
        _form(fields=[{"name": "fname", "maps_to": "first_name"}])
    assert _form(allowed_origins=["https://WWW.Example.com/"]).allows_origin(
        "https://www.example.com")


def test_embed_endpoint_is_the_configured_public_url_or_host_and_port() -> None:
    assert CaptureSettings(host="10.1.2.3", port=9001).base_url == "http://10.1.2.3:9001"
    assert CaptureSettings(public_url="https://forms.example.com/").base_url == (
        "https://forms.example.com")
