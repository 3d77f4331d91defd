"""What a fit rule or a disqualifier tests on a lead (profile, consent, source): a small closed
set of kinds, so a stored model can be validated, shown and explained, never executed. No I/O."""

import functools
import math
import re
from collections.abc import Collection
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadloop.events.models import PropertyValue
from scoring.rules.lead_fields import LeadFields, check_field, field_value

# Addresses anyone can get: they say nothing about an employer.
FREE_MAIL_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.*", "ymail.com", "hotmail.*", "outlook.*", "live.*",
    "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com",
    "pm.me", "gmx.*", "web.de", "t-online.de", "mail.ru", "yandex.*", "mail.com", "zoho.com",
    "qq.com", "163.com", "126.com",
)


def email_domain(email: str) -> str:
    """The lower-cased domain of an email address ('' when there is none)."""
    return email.rpartition("@")[2].strip().lower().rstrip(".")


@functools.lru_cache(maxsize=65_536)  # few domains recur across many leads
def listed_domain(domain: str, entries: tuple[str, ...]) -> str | None:
    """The entry that lists `domain`, if any.

    `acme.com` lists acme.com and its subdomains (eu.acme.com); `gmx.*` lists gmx. followed by
    any ending (gmx.de, gmx.net, gmx.co.uk).
    """
    for entry in entries:
        if entry.endswith(".*"):
            if domain.startswith(entry[:-1]) and len(domain) > len(entry) - 1:
                return entry
        elif domain == entry or domain.endswith("." + entry):
            return entry
    return None


def _domains(entries: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(entry.strip().lower() for entry in entries if entry.strip())


def check_bounds(low: float | None, high: float | None, neither: str, crossed: str) -> None:
    """Refuse bounds that are both open (`neither`) or not in order (`crossed`, formatted with
    `low` and `high`): a range or band must leave room for a value."""
    if low is None and high is None:
        raise ValueError(neither)
    if low is not None and high is not None and low >= high:
        raise ValueError(crossed.format(low=low, high=high))


class RuleModel(BaseModel):
    """Base of every part of a model: immutable; unknown keys are mistakes, not extensions."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EmailDomainIn(RuleModel):
    """The email's domain is in a list (competitors, partners, ...)."""

    kind: Literal["email_domain_in"] = "email_domain_in"
    domains: tuple[str, ...] = ()

    _normalize = field_validator("domains")(_domains)

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        domain = email_domain(lead.profile.email)
        entry = listed_domain(domain, self.domains)
        return None if entry is None else f"email domain {domain} is listed ({entry})"


class BusinessEmail(RuleModel):
    """The email's domain is a company's, not a free-mail provider's."""

    kind: Literal["business_email"] = "business_email"
    free_mail_domains: tuple[str, ...]

    _normalize = field_validator("free_mail_domains")(_domains)

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        domain = email_domain(lead.profile.email)
        if not domain or listed_domain(domain, self.free_mail_domains) is not None:
            return None
        return f"business email domain {domain}"


class FieldMatches(RuleModel):
    """A lead field matches a regular expression (searched, case-insensitive)."""

    kind: Literal["field_matches"] = "field_matches"
    field: str
    pattern: str

    _field = field_validator("field")(check_field)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:  # not a ValueError: pydantic would let it escape unexplained
            raise ValueError(f"pattern '{value}' is not a regular expression: {exc}") from exc
        return value

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        value = field_value(lead, self.field)
        if value is None or isinstance(value, bool):
            return None
        # re caches compiled patterns, so matching stays cheap without our own cache.
        found = re.search(self.pattern, str(value), re.IGNORECASE)
        return None if found is None else f"{self.field} '{value}' matches '{found.group(0)}'"


class NumberAtLeast(RuleModel):
    """A numeric lead field is at least a minimum."""

    kind: Literal["number_at_least"] = "number_at_least"
    field: str
    minimum: float

    _field = field_validator("field")(check_field)

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        value = field_value(lead, self.field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return f"{self.field} {value} >= {self.minimum:g}" if value >= self.minimum else None


class FieldPresent(RuleModel):
    """A lead field has a value."""

    kind: Literal["field_present"] = "field_present"
    field: str

    _field = field_validator("field")(check_field)

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        value = field_value(lead, self.field)
        return None if value is None or value == "" else f"{self.field} given"


Scalar = str | int | float | bool


def _same(value: PropertyValue, expected: Scalar) -> bool:
    """Equality as a person means it: text case-insensitively, 200 == 200.0, no bool/int mix."""
    if value is None or isinstance(value, bool) != isinstance(expected, bool):
        return False
    if isinstance(value, str) and isinstance(expected, str):
        return value.strip().casefold() == expected.strip().casefold()
    return value == expected


class FieldEquals(RuleModel):
    """A lead field (profile, property, consent, source) equals a value; text compares
    case-insensitively."""

    kind: Literal["equals"] = "equals"
    field: str
    value: Scalar

    _field = field_validator("field")(check_field)

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        value = field_value(lead, self.field)
        return f"{self.field} is '{value}'" if _same(value, self.value) else None


class FieldIn(RuleModel):
    """A lead field is one of several values."""

    kind: Literal["in"] = "in"
    field: str
    values: tuple[Scalar, ...] = Field(min_length=1)

    _field = field_validator("field")(check_field)

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        value = field_value(lead, self.field)
        if any(_same(value, expected) for expected in self.values):
            return f"{self.field} '{value}' is one of {len(self.values)} listed values"
        return None


class NumberInRange(RuleModel):
    """A numeric field lies in [minimum, maximum): either bound may be left open."""

    kind: Literal["range"] = "range"
    field: str
    minimum: float | None = None
    maximum: float | None = None

    _field = field_validator("field")(check_field)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        check_bounds(self.minimum, self.maximum, "a range needs a minimum, a maximum or both",
                     "minimum {low:g} must be below maximum {high:g}")
        return self

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        value = field_value(lead, self.field)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return None
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if not low <= value < high:
            return None
        bounds = " and ".join(part for part in (
            None if self.minimum is None else f">= {self.minimum:g}",
            None if self.maximum is None else f"< {self.maximum:g}") if part)
        return f"{self.field} {value} {bounds}"


class EmailDomainKind(RuleModel):
    """The email's domain is of a kind: a free-mail provider's, or a business's."""

    kind: Literal["email_domain_kind"] = "email_domain_kind"
    domain_kind: Literal["free", "business"]
    free_mail_domains: tuple[str, ...] = FREE_MAIL_DOMAINS

    _normalize = field_validator("free_mail_domains")(_domains)

    def match(self, lead: LeadFields) -> str | None:
        """Why the lead matches, or None."""
        domain = email_domain(lead.profile.email)
        if not domain:
            return None
        free = listed_domain(domain, self.free_mail_domains) is not None
        if free != (self.domain_kind == "free"):
            return None
        return f"{self.domain_kind} email domain {domain}"


Condition = Annotated[
    EmailDomainIn | BusinessEmail | FieldMatches | NumberAtLeast | FieldPresent | FieldEquals
    | FieldIn | NumberInRange | EmailDomainKind,
    Field(discriminator="kind"),
]
"""What a fit rule or a disqualifier tests on the lead's fields."""


class ConsentWithdrawn(RuleModel):
    """The person withdrew consent to a purpose: capture sent lead.consent_changed with
    `granted: false` (and has not granted it again since). With `sales_contact` this is
    do-not-contact. Consent never given is not a withdrawal: most leads never answer."""

    kind: Literal["consent_withdrawn"] = "consent_withdrawn"
    purpose: Literal["sales_contact", "email_marketing"]

    def match_withdrawn(self, withdrawn: Collection[str]) -> str | None:
        """Why the lead matches, given the purposes it withdrew consent to, or None."""
        return f"consent to {self.purpose} withdrawn" if self.purpose in withdrawn else None


DisqualifierCondition = Annotated[
    EmailDomainIn | BusinessEmail | FieldMatches | NumberAtLeast | FieldPresent | FieldEquals
    | FieldIn | NumberInRange | EmailDomainKind | ConsentWithdrawn,
    Field(discriminator="kind"),
]
"""What a disqualifier tests: a condition on the lead's fields, or a withdrawn consent."""
