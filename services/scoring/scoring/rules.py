"""A scoring model's rules, as data: what is stored (JSONB) in each model version. No I/O.

A model has fit rules (who the lead is, from the profile; each counts once), engagement rules
(what the lead did, from activities; decayed, optionally repeatable up to a cap), disqualifiers,
grade thresholds on the fit score and the MQL definition. Conditions are a small closed set of
kinds so a stored model can be validated, shown and explained, never executed.
"""

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadloop.events.models import LeadProfile, PropertyValue

_PROFILE_FIELDS = frozenset(LeadProfile.model_fields) - {"properties"}
_PROPERTY_PREFIX = "properties."


def email_domain(email: str) -> str:
    """The lower-cased domain of an email address ('' when there is none)."""
    return email.rpartition("@")[2].strip().lower().rstrip(".")


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


def profile_value(profile: LeadProfile, field: str) -> PropertyValue:
    """A profile field, or a custom property when `field` is `properties.<name>`."""
    if field.startswith(_PROPERTY_PREFIX):
        return profile.properties.get(field.removeprefix(_PROPERTY_PREFIX))
    value: PropertyValue = getattr(profile, field)
    return value


def _known_field(field: str) -> str:
    if field in _PROFILE_FIELDS or (field.startswith(_PROPERTY_PREFIX)
                                    and len(field) > len(_PROPERTY_PREFIX)):
        return field
    raise ValueError(f"'{field}' is not a profile field (or properties.<name>)")


def _domains(entries: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(entry.strip().lower() for entry in entries if entry.strip())


class RuleModel(BaseModel):
    """Base of every part of a model: immutable; unknown keys are mistakes, not extensions."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EmailDomainIn(RuleModel):
    """The email's domain is in a list (competitors, partners, ...)."""

    kind: Literal["email_domain_in"] = "email_domain_in"
    domains: tuple[str, ...] = ()

    _normalize = field_validator("domains")(_domains)

    def match(self, profile: LeadProfile) -> str | None:
        """Why the profile matches, or None."""
        domain = email_domain(profile.email)
        entry = listed_domain(domain, self.domains)
        return None if entry is None else f"email domain {domain} is listed ({entry})"


class BusinessEmail(RuleModel):
    """The email's domain is a company's, not a free-mail provider's."""

    kind: Literal["business_email"] = "business_email"
    free_mail_domains: tuple[str, ...]

    _normalize = field_validator("free_mail_domains")(_domains)

    def match(self, profile: LeadProfile) -> str | None:
        """Why the profile matches, or None."""
        domain = email_domain(profile.email)
        if not domain or listed_domain(domain, self.free_mail_domains) is not None:
            return None
        return f"business email domain {domain}"


class FieldMatches(RuleModel):
    """A profile field matches a regular expression (searched, case-insensitive)."""

    kind: Literal["field_matches"] = "field_matches"
    field: str
    pattern: str

    _field = field_validator("field")(_known_field)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:  # not a ValueError: pydantic would let it escape unexplained
            raise ValueError(f"pattern '{value}' is not a regular expression: {exc}") from exc
        return value

    def match(self, profile: LeadProfile) -> str | None:
        """Why the profile matches, or None."""
        value = profile_value(profile, self.field)
        if value is None or isinstance(value, bool):
            return None
        # re caches compiled patterns, so matching stays cheap without our own cache.
        found = re.search(self.pattern, str(value), re.IGNORECASE)
        return None if found is None else f"{self.field} '{value}' matches '{found.group(0)}'"


class NumberAtLeast(RuleModel):
    """A numeric profile field is at least a minimum."""

    kind: Literal["number_at_least"] = "number_at_least"
    field: str
    minimum: float

    _field = field_validator("field")(_known_field)

    def match(self, profile: LeadProfile) -> str | None:
        """Why the profile matches, or None."""
        value = profile_value(profile, self.field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return f"{self.field} {value} >= {self.minimum:g}" if value >= self.minimum else None


class FieldPresent(RuleModel):
    """A profile field has a value."""

    kind: Literal["field_present"] = "field_present"
    field: str

    _field = field_validator("field")(_known_field)

    def match(self, profile: LeadProfile) -> str | None:
        """Why the profile matches, or None."""
        value = profile_value(profile, self.field)
        return None if value is None or value == "" else f"{self.field} given"


Condition = Annotated[
    EmailDomainIn | BusinessEmail | FieldMatches | NumberAtLeast | FieldPresent,
    Field(discriminator="kind"),
]
"""What a fit rule or a disqualifier tests on the profile."""

RuleId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.\-]+$")]


class FitRule(RuleModel):
    """Points, once, when the profile meets a condition."""

    id: RuleId
    points: int
    when: Condition


class Disqualifier(RuleModel):
    """A condition that takes a lead out of qualification for good."""

    id: RuleId
    when: Condition


class EngagementRule(RuleModel):
    """Points per activity of a kind (optionally only on URLs containing a text), decayed."""

    id: RuleId
    activity_kind: str = Field(min_length=1)
    url_contains: str | None = None
    points: int
    repeatable: bool = False
    cap: int | None = Field(default=None, gt=0, description="most points a repeatable rule gives")

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if self.points == 0:
            raise ValueError(f"rule {self.id}: points must not be 0")
        if self.cap is not None and not self.repeatable:
            raise ValueError(f"rule {self.id}: a cap only applies to a repeatable rule")
        return self

    def matches(self, kind: str, url: str | None) -> bool:
        """Whether an activity of this kind at this URL counts for the rule."""
        if kind != self.activity_kind:
            return False
        return self.url_contains is None or (
            url is not None and self.url_contains.lower() in url.lower()
        )


class GradeThreshold(RuleModel):
    """The fit score from which a grade is given."""

    grade: str = Field(min_length=1, max_length=8)
    min_fit: int


class MqlDefinition(RuleModel):
    """When a lead is marketing-qualified."""

    min_score: int
    grades: tuple[str, ...]


class Decay(RuleModel):
    """How engagement fades: halves every half-life; activities older than the window count 0."""

    half_life_days: float | None = Field(default=30.0, gt=0)
    window_days: int = Field(default=365, gt=0)


class ScoringModelConfig(RuleModel):
    """Every rule of one model version."""

    fit_rules: tuple[FitRule, ...] = ()
    engagement_rules: tuple[EngagementRule, ...] = ()
    disqualifiers: tuple[Disqualifier, ...] = ()
    grades: tuple[GradeThreshold, ...] = ()
    default_grade: str = "D"
    mql: MqlDefinition
    decay: Decay = Decay()

    @field_validator("grades")
    @classmethod
    def _highest_first(cls, value: tuple[GradeThreshold, ...]) -> tuple[GradeThreshold, ...]:
        return tuple(sorted(value, key=lambda g: g.min_fit, reverse=True))

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> Self:
        ids = [r.id for r in self.fit_rules] + [r.id for r in self.engagement_rules] + [
            r.id for r in self.disqualifiers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        return self
