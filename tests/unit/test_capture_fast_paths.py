"""The per-row fast paths give exactly what the validation libraries give."""

from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from capture.imports.domain import fast_profile, row_to_body
from capture.leads.domain import normalize_email
from capture.leads.validation import LeadIn
from leadloop.events.models import event_time_now

NOW = event_time_now()

# Characters that matter to email syntax: atext, dots, quotes, brackets, @, spaces, non-ASCII.
_PIECES = st.sampled_from([*"aZ09.-_+!#$%&'*/=?^`{|}~\"()<>[]\\,;: @", "é", "ß", "例", "\u200b",
                           "xn--"])
_DOMAINS = st.sampled_from(["example.com", "Example-Corp.COM", "a.b", "localhost", "x..y",
                            "-bad.com", "bad-.com", "123.45", "mail.xn--bcher-kva.de",
                            "invalid", "example", "test.test", "a" * 64 + ".com",
                            ("a" * 60 + ".") * 4 + "com", "münchen.de", "[127.0.0.1]"])


def _library(text: str) -> str | Exception:
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        return ValueError(str(exc))


def _ours(text: str) -> str | Exception:
    try:
        return normalize_email(text)
    except ValueError as exc:
        return exc


def _same(text: str) -> None:
    ours, theirs = _ours(text), _library(text)
    if isinstance(theirs, Exception):
        assert isinstance(ours, ValueError) and str(ours) == str(theirs), text
    else:
        assert ours == theirs, text


@settings(max_examples=3000, deadline=None)
@given(local=st.lists(_PIECES, min_size=0, max_size=70).map("".join), domain=_DOMAINS)
@example(local="Person.Tag.1", domain="Company-1.com")
@example(local="a" * 250, domain="example.com")
@example(local=".a", domain="example.com")
@example(local="a..b", domain="example.com")
@example(local="postmaster", domain="EXAMPLE.com")
def test_email_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    _same(f"{local}@{domain}")
    _same(f"  {local}@{domain} ")


@settings(max_examples=1000, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_email_fast_path_agrees_on_arbitrary_text(text: str) -> None:
    _same(text)


_MAPPING = {"email": "email", "first": "first_name", "last": "last_name", "company": "company",
            "title": "job_title", "country": "country", "phone": "phone", "region": "region",
            "industry": "industry", "size": "company_size", "web": "website", "tz": "time_zone",
            "note": "properties.note", "opt_in": "consent.email_marketing",
            "sales": "consent.sales_contact"}
_VALUES = {
    "email": st.sampled_from(["ann@example.com", " Ann@Example.COM ", "not-an-email",
                              "a@b", "x" * 330 + "@example.com", "ünï@example.com", ""]),
    "first": st.sampled_from(["", " Ann ", "A  nn", "x" * 256, "\t", "<b>"]),
    "country": st.sampled_from(["", "de", "GB", "us", "XX", "DEU", "d"]),
    "phone": st.sampled_from(["", "030 1234567", "(415) 555-0100", "+44 20 7946 0958", "12",
                              "x" * 65, "abc"]),
    "size": st.sampled_from(["", "0", "250", "0012", "-5", "1e3", "10000001", "2.5", "١٢",
                             " 7"]),
    "web": st.sampled_from(["", "https://example.com", "x" * 2001]),
    "tz": st.sampled_from(["", "Europe/Berlin", "x" * 65]),
    "note": st.sampled_from(["", "booth 12", "x" * 2001, "true", "123"]),
    "opt_in": st.sampled_from(["", "yes", "no", "1"]),
}


@settings(max_examples=2000, deadline=None)
@given(st.fixed_dictionaries({column: _VALUES.get(column, st.sampled_from(["", " Acme  Co ",
                                                                           "x" * 300]))
                              for column in _MAPPING}))
def test_fast_row_profile_agrees_with_the_lead_model(row: dict[str, str]) -> None:
    body = row_to_body(row, _MAPPING, "fair", NOW)
    fast = fast_profile(body)
    try:
        expected = LeadIn.model_validate(body).model_dump(mode="json",
                                                          exclude={"consent", "source"})
    except ValidationError:
        assert fast is None, row
        return
    if fast is not None:
        assert fast == expected, row


def test_a_typical_row_takes_the_fast_path() -> None:
    row = {"email": " Ann.Lee@Example-Corp.com ", "first": " Ann ", "country": "de",
           "phone": "030 1234567", "size": "250", "note": "booth 12", "opt_in": "yes"}
    body = row_to_body(row, _MAPPING, "fair", NOW)
    assert fast_profile(body) == LeadIn.model_validate(body).model_dump(
        mode="json", exclude={"consent", "source"})
    assert fast_profile(body) is not None
