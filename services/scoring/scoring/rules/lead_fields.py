"""Any field of a lead, by a dotted name, as rules and learned features read it. No I/O.

A lead is its profile (`job_title`, `country`, `properties.<name>`), its consent
(`consent.email_marketing`, `consent.lawful_basis`, ...) and the source it came from
(`source.channel`, `source.utm_source`, ...). A rule or a feature names one of these; a name
that is none of them is refused when the model is saved, with the names that are valid.
"""

import functools
from dataclasses import dataclass

from leadloop.events.models import Consent, LeadProfile, LeadSource, PropertyValue

PROPERTY_PREFIX = "properties."
PROFILE_FIELDS = tuple(name for name in LeadProfile.model_fields if name != "properties")
CONSENT_FIELDS = tuple(f"consent.{name}" for name in Consent.model_fields)
SOURCE_FIELDS = tuple(f"source.{name}" for name in LeadSource.model_fields)
_PROFILE_SET = frozenset(PROFILE_FIELDS)
_KNOWN = frozenset(PROFILE_FIELDS) | frozenset(CONSENT_FIELDS) | frozenset(SOURCE_FIELDS)


@dataclass(frozen=True, slots=True)
class LeadFields:
    """What rules and features read of a lead: profile, consent and first source."""

    profile: LeadProfile
    consent: Consent | None = None
    source: LeadSource | None = None


def check_field(field: str) -> str:
    """`field` when it names a lead field; otherwise a ValueError listing the valid names."""
    if field in _KNOWN or (field.startswith(PROPERTY_PREFIX)
                           and len(field) > len(PROPERTY_PREFIX)):
        return field
    profile_prefix = "profile."
    guesses = [field.removeprefix(profile_prefix), f"source.{field}", f"consent.{field}"]
    meant = next((guess for guess in guesses if guess != field and guess in _KNOWN), None)
    hint = "" if meant is None else f" (did you mean '{meant}'?)"
    raise ValueError(
        f"'{field}' is not a lead field{hint}: use a profile field ({', '.join(PROFILE_FIELDS)}), "
        f"properties.<name>, a consent field ({', '.join(CONSENT_FIELDS)}) or a source field "
        f"({', '.join(SOURCE_FIELDS)})")


@functools.lru_cache(maxsize=1024)
def _path(field: str) -> tuple[str, str]:
    """(part, name): part is profile, properties, consent or source."""
    if field.startswith(PROPERTY_PREFIX):
        return "properties", field.removeprefix(PROPERTY_PREFIX)
    for part in ("consent", "source"):
        if field.startswith(part + "."):
            return part, field.removeprefix(part + ".")
    return "profile", field


def field_value(lead: LeadFields, field: str) -> PropertyValue:
    """The value of a lead field (None when the lead has none); times as ISO text."""
    if field in _PROFILE_SET:  # the common case, on the hot path: one attribute read
        value: PropertyValue = getattr(lead.profile, field)
        return value
    part, name = _path(field)
    if part == "properties":
        return lead.profile.properties.get(name)
    holder = lead.profile if part == "profile" else getattr(lead, part)
    if holder is None:
        return None
    value = getattr(holder, name)
    if value is None or isinstance(value, str | int | float | bool):
        return value  # type: ignore[no-any-return]
    return str(value.isoformat() if hasattr(value, "isoformat") else value)
