"""Handoff's routing policy, pure: which rule matches a lead, who may take it, who is free now.

The order of decisions for a qualified lead:
1. a named-account owner (the lead's email or website domain) who is available wins;
2. else the first active routing rule (by position) whose conditions all hold picks the team;
   no rule matching means the default team;
3. inside the team, reps covering the lead's territory and segment are eligible, and weighted
   round-robin (domain.route_round_robin) picks among those available now;
4. nobody available: the fallback queue.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from handoff.assignments.domain import RepCandidate

DEFAULT_RULE = "default"
NAMED_ACCOUNT_RULE = "named-account"

# Company-size bands a rep's `segments` name; a lead's band comes from its company size.
SEGMENT_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("smb", 0, 99), ("mid-market", 100, 999), ("enterprise", 1000, None))
SEGMENTS = tuple(name for name, _low, _high in SEGMENT_BANDS)

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists")


def segment_of(company_size: int | None) -> str | None:
    """The company-size band of a lead (None when its size is unknown)."""
    if company_size is None:
        return None
    for name, low, high in SEGMENT_BANDS:
        if company_size >= low and (high is None or company_size <= high):
            return name
    return None


def email_domain(email: str | None) -> str | None:
    """The lower-case domain of an email address."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def website_domain(website: str | None) -> str | None:
    """The host of a website, without scheme, path or a leading www."""
    if not website:
        return None
    host = website.strip().lower().split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.removeprefix("www.") or None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What routing looks at, flattened from lead.qualified."""

    values: Mapping[str, Any]

    def get(self, name: str) -> Any:
        """A field's value, e.g. "country", "score", "source.campaign", "properties.plan"."""
        return self.values.get(name)

    @property
    def domains(self) -> set[str]:
        """The lead's email and website domains (what named accounts match)."""
        return {d for d in (self.values.get("email_domain"), self.values.get("website_domain"))
                if d}

    @classmethod
    def of(cls, *, profile: Mapping[str, Any], score: int, grade: str,
           source: Mapping[str, Any]) -> "LeadFacts":
        """Facts from a lead's profile (as dumped JSON), score, grade and source."""
        values: dict[str, Any] = {k: v for k, v in profile.items() if k != "properties"}
        for key, value in (profile.get("properties") or {}).items():
            values[f"properties.{key}"] = value
        for key, value in source.items():
            values[f"source.{key}"] = value
        values["score"] = score
        values["grade"] = grade
        values["segment"] = segment_of(profile.get("company_size"))
        values["email_domain"] = email_domain(profile.get("email"))
        values["website_domain"] = website_domain(profile.get("website"))
        return cls(values)


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on a lead field, e.g. score gte 70, country in [DE, AT], grade eq A."""

    field: str
    op: str
    value: Any = None

    def holds(self, facts: LeadFacts) -> bool:
        """Whether the lead passes this test; a missing field fails every test but `ne`."""
        actual = facts.get(self.field)
        if self.op == "exists":
            return (actual is not None) == bool(self.value if self.value is not None else True)
        if actual is None:
            return self.op in ("ne", "not_in")
        expected: Any
        if isinstance(actual, str) and isinstance(self.value, str):
            actual, expected = actual.lower(), self.value.lower()
        elif isinstance(actual, str) and isinstance(self.value, list):
            actual = actual.lower()
            expected = [v.lower() if isinstance(v, str) else v for v in self.value]
        else:
            expected = self.value
        try:
            return _compare(self.op, actual, expected)
        except TypeError:  # e.g. "abc" gte 5: the rule does not apply to this lead
            return False


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "gt":
        return bool(actual > expected)
    if op == "gte":
        return bool(actual >= expected)
    if op == "lt":
        return bool(actual < expected)
    if op == "lte":
        return bool(actual <= expected)
    raise ValueError(f"unknown operator {op!r}")


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """A versioned rule: when every condition holds, the lead goes to `team`."""

    id: UUID | str
    version: int
    name: str
    team: str
    conditions: Sequence[Condition] = ()
    accept_sla: timedelta | None = None  # None: the service default
    respect_working_hours: bool = True

    @property
    def label(self) -> str:
        """How an assignment names the rule, e.g. "enterprise-emea@v3"."""
        return f"{self.name}@v{self.version}"

    def matches(self, facts: LeadFacts) -> bool:
        """Whether every condition holds (a rule without conditions matches every lead)."""
        return all(condition.holds(facts) for condition in self.conditions)


def first_matching_rule(rules: Sequence[RoutingRule], facts: LeadFacts) -> RoutingRule | None:
    """The first rule, in the order given (position), that matches the lead."""
    return next((rule for rule in rules if rule.matches(facts)), None)


def describe_match(rule: RoutingRule) -> str:
    """Why a rule matched, e.g. "rule 'big-de@v2' matched (score gte 70, country in [DE])"."""
    tests = ", ".join(f"{c.field} {c.op} {c.value}" for c in rule.conditions) or "any lead"
    return f"rule '{rule.label}' matched ({tests})"


# --- reps' availability --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When a rep works, in its own time zone: weekdays (0 = Monday) from `start` to `end`."""

    time_zone: str
    start: time
    end: time
    days: frozenset[int] = frozenset(range(5))

    def contains(self, at: datetime) -> bool:
        """Whether `at` (aware) falls inside these hours."""
        local = at.astimezone(ZoneInfo(self.time_zone))
        if local.weekday() not in self.days:
            return False
        now = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # a night shift across midnight

    def windows_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working windows (UTC, start inclusive, end exclusive) that end after `at`, in
        order and without end. A night shift's window belongs to the day it starts on, so the
        search starts the local day before `at`. Boundaries are local wall times: a window
        spanning a daylight-saving change is an hour shorter or longer in real time."""
        zone = ZoneInfo(self.time_zone)
        day = at.astimezone(zone).date() - timedelta(days=1)
        overnight = self.end <= self.start
        while True:
            if day.weekday() in self.days:
                start = datetime.combine(day, self.start, zone).astimezone(UTC)
                end_day = day + timedelta(days=1) if overnight else day
                end = datetime.combine(end_day, self.end, zone).astimezone(UTC)
                if end > at:
                    yield start, end
            day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RepProfile:
    """A rep as routing sees it: coverage, load and availability."""

    id: UUID
    name: str
    team: str
    weight: int = 1
    capacity: int = 100
    open_assignments: int = 0
    active: bool = True
    territories: frozenset[str] = frozenset()  # countries (DE) or country-regions (US-CA)
    segments: frozenset[str] = frozenset()
    named_accounts: frozenset[str] = frozenset()  # email domains
    working_hours: WorkingHours | None = None  # None: always working
    out_of_office_from: datetime | None = None
    out_of_office_to: datetime | None = None
    manager_id: UUID | None = None

    def out_of_office(self, at: datetime) -> bool:
        """Whether `at` is in the rep's out-of-office window (a missing bound is open-ended)."""
        if self.out_of_office_from is None and self.out_of_office_to is None:
            return False
        starts = self.out_of_office_from is None or self.out_of_office_from <= at
        ends = self.out_of_office_to is None or at < self.out_of_office_to
        return starts and ends

    def covers(self, facts: LeadFacts) -> bool:
        """Whether the lead is in the rep's territories and segments (empty means all)."""
        if self.territories and not _in_territory(self.territories, facts):
            return False
        if self.segments:
            segment = facts.get("segment")
            return segment is not None and segment in self.segments
        return True

    def candidate(self, at: datetime, respect_working_hours: bool) -> RepCandidate:
        """The round-robin view of this rep at `at`."""
        off_hours = (respect_working_hours and self.working_hours is not None
                     and not self.working_hours.contains(at))
        return RepCandidate(id=self.id, name=self.name, weight=self.weight,
                            capacity=self.capacity, open_assignments=self.open_assignments,
                            active=self.active, out_of_office=self.out_of_office(at),
                            off_hours=off_hours)


def _in_territory(territories: frozenset[str], facts: LeadFacts) -> bool:
    country = (facts.get("country") or "").upper()
    if not country:
        return False
    region = (facts.get("region") or "").upper()
    return country in territories or (bool(region) and f"{country}-{region}" in territories)


@dataclass(frozen=True, slots=True)
class NamedAccountMatch:
    """The owner of the lead's named account, and whether it can take the lead now."""

    owner: RepProfile
    domain: str
    available: bool


def named_account_owner(reps: Sequence[RepProfile], facts: LeadFacts,
                        at: datetime) -> NamedAccountMatch | None:
    """The rep who owns the lead's account by domain (the first in rotation order), if any."""
    domains = facts.domains
    for rep in reps:
        owned = rep.named_accounts & domains
        if owned:
            # Named-account owners get their accounts regardless of working hours: the owner
            # is who the account expects; only absence or a full desk passes it on.
            view = rep.candidate(at, respect_working_hours=False)
            return NamedAccountMatch(rep, sorted(owned)[0], view.available)
    return None


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """The first decisions for a lead: its rule and team, and whether a named-account owner
    takes it instead of the team's rotation."""

    rule: RoutingRule | None  # None: no rule matched, the default team
    team: str
    owner: NamedAccountMatch | None = None  # an available owner: it gets the lead
    owner_unavailable: NamedAccountMatch | None = None  # an owner who cannot take it now


def plan_route(rules: Sequence[RoutingRule], facts: LeadFacts, owners: Sequence[RepProfile],
               at: datetime, default_team: str) -> RoutePlan:
    """A named-account owner who is available wins over every rule; otherwise the first
    matching rule's team (else `default_team`) rotates the lead."""
    rule = first_matching_rule(rules, facts)
    team = rule.team if rule else default_team
    match = named_account_owner(owners, facts, at)
    if match is not None and match.available:
        return RoutePlan(rule, team, owner=match)
    return RoutePlan(rule, team, owner_unavailable=match)


@dataclass(frozen=True, slots=True)
class TeamPool:
    """The reps of a team eligible for one lead, as round-robin candidates."""

    candidates: list[RepCandidate] = field(default_factory=list)
    not_covering: int = 0


def team_pool(reps: Sequence[RepProfile], facts: LeadFacts, at: datetime,
              respect_working_hours: bool, exclude: frozenset[UUID] = frozenset()) -> TeamPool:
    """The team's reps who cover the lead's territory and segment (minus `exclude`)."""
    covering = [rep for rep in reps if rep.id not in exclude and rep.covers(facts)]
    return TeamPool([rep.candidate(at, respect_working_hours) for rep in covering],
                    not_covering=sum(1 for rep in reps if rep.id not in exclude) - len(covering))
