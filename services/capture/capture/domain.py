"""Pure normalization and merge rules for leads: no I/O."""

from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from leadloop.events.models import LeadProfile

# ISO 3166-1 alpha-2 codes phonenumbers knows, plus the few without a calling code of their own.
_COUNTRY_CODES = frozenset(phonenumbers.SUPPORTED_REGIONS) | {"AQ", "BV", "GS", "HM", "PN",
                                                              "TF", "UM"}


def normalize_email(raw: str) -> str:
    """Syntax-checked, lowercased email; raises ValueError with the reason. No DNS lookups."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return result.normalized.lower()


def normalize_country(raw: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased; raises ValueError otherwise."""
    code = raw.strip().upper()
    if code not in _COUNTRY_CODES:
        raise ValueError(f"'{raw}' is not an ISO 3166-1 alpha-2 country code")
    return code


def normalize_phone(raw: str, country_hint: str | None) -> str:
    """A phone number in E.164; the country (or the default) resolves national numbers."""
    try:
        number = phonenumbers.parse(raw, country_hint)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{raw}' is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"'{raw}' is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
