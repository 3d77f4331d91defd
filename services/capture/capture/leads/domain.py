"""Pure normalization and merge rules for leads: no I/O."""

import re
from functools import lru_cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import ATEXT, EMAIL_MAX_LENGTH

from capture.leads.countries import country_code
from leadloop.events.models import CONSENT_PURPOSES, Consent, LeadProfile

_ASCII_DOMAIN = re.compile(r"[A-Za-z0-9.-]+")
# The library's dot-atom rule (atext runs joined by single dots) as one character class plus
# three string checks: the library's own regex costs a few µs a call.
_ATEXT_OR_DOT = re.compile(f"[{ATEXT}.]+", re.ASCII)


NUL = "\x00"


def printable(text: str) -> str:
    """`text` safe to store and show: PostgreSQL takes no NUL character in text or jsonb."""
    return text.replace(NUL, "\\0")


def refuse_nul(value: Any) -> Any:
    """`value` unchanged; ValueError naming where a NUL character sits in it (a string, or a
    key or value of nested dicts and lists), which no store or event can hold."""
    if isinstance(value, str):
        if NUL in value:
            raise ValueError("must not contain a NUL character (\\0)")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                raise ValueError(f"name '{printable(key)[:100]}' must not contain a NUL "
                                 "character (\\0)")
            try:
                refuse_nul(item)
            except ValueError as exc:
                raise ValueError(f"'{printable(str(key))[:100]}' {exc}") from None
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item)
    return value


def normalize_email(raw: str) -> str:
    """Syntax-checked, lowercased email; raises ValueError with the reason. No DNS lookups."""
    text = raw.strip()
    fast = _plain_ascii_email(text)
    if fast is not None:
        return fast
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return result.normalized.lower()


def _plain_ascii_email(text: str) -> str | None:
    """The common case without the library's per-address cost (88 µs): an ASCII dot-atom
    local part, which email-validator accepts unchanged, and an ASCII domain whose verdict is
    cached per domain (an import's rows share a few thousand domains). None means 'ask the
    library', which also gives the exact error message. tests/unit/test_capture_fast_paths.py
    checks it against the library."""
    local, at, domain = text.rpartition("@")
    if (not at or len(text) > EMAIL_MAX_LENGTH or not text.isascii()
            or not _ATEXT_OR_DOT.fullmatch(local) or local[0] == "." or local[-1] == "."
            or ".." in local or not _ASCII_DOMAIN.fullmatch(domain)):
        return None
    normalized_domain = _ascii_domain(domain)
    if normalized_domain is None or len(local) + 1 + len(normalized_domain) > EMAIL_MAX_LENGTH:
        return None
    return f"{local}@{normalized_domain}".lower()


@lru_cache(maxsize=65536)
def _ascii_domain(domain: str) -> str | None:
    """The library's normalized form of an ASCII domain, or None when it refuses it."""
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalize_country(raw: str) -> str:
    """An ISO 3166-1 alpha-2 code from a code (any case) or an English name ("India");
    raises ValueError naming the valid codes otherwise."""
    return country_code(raw)


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, country_hint: str | None) -> str:
    """A phone number in E.164; the country (or the default) resolves national numbers.
    Cached: a pure function of its arguments, and lists repeat switchboard numbers."""
    try:
        number = phonenumbers.parse(raw, country_hint)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{raw}' is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"'{raw}' is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A head count as forms, CRMs and spreadsheets write it: 1200, "1,200", "1 200", "10k", "1000+",
# "51-200", "51 to 200", "11-50 employees" (en and em dashes too). Thousands separators are
# commas or spaces only: "1.200" is 1,200 in Germany and 1.2 elsewhere, so it is refused.
_COUNT = r"(\d{1,3}(?:[, ]\d{3})+|\d+) ?(k)?"
# Read after white space is folded to single spaces and the length capped: no run of
# optional spaces for the engine to try every split of.
_HEAD_COUNT = re.compile(rf"{_COUNT} ?(?:(\+)|(?:-|\u2013|\u2014|to) ?{_COUNT})?"
                         r" ?(?:employees?|people|persons?|staff)?", re.IGNORECASE)
_HEAD_COUNT_MAX_LENGTH = 40


def head_count(raw: str) -> int:
    """The number of people a company size stands for. A range (51-200, a form's usual
    choice) or an open one (1000+) counts as its lower bound: the least it can be, so the
    size band stays the one given and an "at least N" rule never over-reads it. ValueError
    with the reason otherwise."""
    text = " ".join(raw.split())
    match = _HEAD_COUNT.fullmatch(text) if len(text) <= _HEAD_COUNT_MAX_LENGTH else None
    if match is None:
        raise ValueError(f"'{raw[:40]}' is not a head count: use a number (1200), a range "
                         "(51-200) or an open range (1000+)")
    low = _count(match.group(1), match.group(2))
    if match.group(4) is not None and _count(match.group(4), match.group(5)) < low:
        raise ValueError(f"'{raw[:40]}' is a range that ends below where it starts")
    return low


def _count(digits: str, thousands: str | None) -> int:
    number = int(digits.replace(",", "").replace(" ", ""))
    return number * 1000 if thousands else number


def clean_text(raw: str | None) -> str | None:
    """Trimmed text with inner runs of white space folded; empty becomes None."""
    if raw is None:
        return None
    folded = " ".join(raw.split())
    return folded or None


def merge_profiles(current: LeadProfile, incoming: LeadProfile) -> tuple[LeadProfile, list[str]]:
    """The profile after a later submission, and which fields changed.

    A later submission's values win, as in HubSpot and Marketo; fields it leaves empty keep the
    value we have, so a short form never erases what a long one collected.
    """
    merged: dict[str, Any] = current.model_dump()
    changed: list[str] = []
    for name, value in incoming.model_dump(exclude={"properties"}).items():
        if value is not None and merged.get(name) != value:
            merged[name] = value
            changed.append(name)
    properties = dict(current.properties)
    for name, value in incoming.properties.items():
        if properties.get(name) != value:
            properties[name] = value
            changed.append(f"properties.{name}")
    merged["properties"] = properties
    return LeadProfile.model_validate(merged), changed


def fill_profile(current: LeadProfile, incoming: LeadProfile) -> tuple[LeadProfile, list[str]]:
    """A known lead after a public form post: only fields we do not have yet are taken (and
    properties we do not hold), so an anonymous visitor who types someone's address can add
    to that person's record but never rewrite it."""
    merged: dict[str, Any] = current.model_dump()
    changed: list[str] = []
    for name, value in incoming.model_dump(exclude={"properties", "email"}).items():
        if value is not None and merged.get(name) is None:
            merged[name] = value
            changed.append(name)
    properties = dict(current.properties)
    for name, value in incoming.properties.items():
        if value is not None and properties.get(name) is None:
            properties[name] = value
            changed.append(f"properties.{name}")
    merged["properties"] = properties
    return LeadProfile.model_validate(merged), changed


def consent_to_confirm(current: Consent, incoming: Consent | None) -> Consent | None:
    """What a public form's consent for a known address would add, to be confirmed by the
    person (double opt-in) before it counts: the purposes it grants that are not granted yet,
    with its wording; None when it adds nothing."""
    if incoming is None:
        return None
    new = [p for p in CONSENT_PURPOSES if getattr(incoming, p) and not getattr(current, p)]
    if not new:
        return None
    kept = {"text", "version", "lawful_basis", "source", "given_at"}
    return Consent.model_validate({**{p: True for p in new},
                                   **incoming.model_dump(include=kept)})


def merge_consent(current: Consent, incoming: Consent) -> Consent:
    """Consent after a submission: only what the submitter actually sent replaces ours, so a
    form asking about one purpose never withdraws another."""
    values = current.model_dump()
    for name in incoming.model_fields_set:
        values[name] = getattr(incoming, name)
    return Consent.model_validate(values)


def consent_changes(before: Consent | None, after: Consent) -> list[tuple[str, bool]]:
    """Each purpose whose consent changed (for a new lead: each purpose granted)."""
    if before is None:
        return [(p, True) for p in CONSENT_PURPOSES if getattr(after, p)]
    return [(p, getattr(after, p)) for p in CONSENT_PURPOSES
            if getattr(before, p) != getattr(after, p)]


def merge_lead(current: LeadProfile, current_consent: Consent, incoming: LeadProfile,
               incoming_consent: Consent | None) -> tuple[LeadProfile, Consent, list[str]]:
    """A known lead after a later submission: profile merged, consent merged if given."""
    merged, changed = merge_profiles(current, incoming)
    consent = current_consent
    if incoming_consent is not None:
        consent = merge_consent(current_consent, incoming_consent)
        if consent != current_consent:
            changed.append("consent")
    return merged, consent, changed
