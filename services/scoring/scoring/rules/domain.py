"""Scoring's pure logic: the score, grade and MQL status of a lead under a model. No I/O.

Everything a score depends on is passed in, "now" included, so any score can be recomputed and
explained from stored state. The rules themselves are data (see `rules.py`).
"""

import functools
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from uuid import UUID

from leadloop.events.models import Consent, LeadProfile, LeadSource, ScoreContribution
from scoring.rules.activities import Activity
from scoring.rules.lead_fields import LeadFields
from scoring.rules.model_config import (
    ConsentWithdrawn,
    EngagementRule,
    IntensityRule,
    ScoringModelConfig,
    email_domain,
)

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """One version of the scoring rules."""

    version: int
    config: ScoringModelConfig


@dataclass(frozen=True, slots=True)
class Disqualification:
    """The disqualifier that matched, and why."""

    rule_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class LeadScore:
    """A lead's score under one model at one moment, with every contribution that makes it."""

    model_version: int
    fit_score: int
    engagement_score: int
    grade: str
    is_mql: bool
    contributions: tuple[ScoreContribution, ...]
    disqualification: Disqualification | None
    win_probability: float | None = None

    @property
    def score(self) -> int:
        """Fit plus engagement."""
        return self.fit_score + self.engagement_score

    def summary(self) -> tuple[Any, ...]:
        """What a change is judged by: a change here is a new lead.scored and history row."""
        return (self.score, self.fit_score, self.engagement_score, self.grade, self.is_mql,
                self.model_version, probability_shown(self.win_probability))


class Qualification(StrEnum):
    """Where a lead stands towards lead.qualified, which is sent once per qualification."""

    open = "open"  # becoming an MQL sends lead.qualified
    qualified = "qualified"  # lead.qualified was sent; it is not sent again
    rejected = "rejected"  # sales rejected it; it must drop below MQL before it can qualify again


@dataclass(frozen=True, slots=True)
class StoredLead:
    """Scoring's local copy of a lead and its last score, as stored."""

    lead_id: UUID
    profile: LeadProfile | None = None
    consent: Consent | None = None
    source: LeadSource | None = None
    profile_at: datetime | None = None
    profile_event_id: str | None = None
    created_at: datetime | None = None  # when capture created the lead (lead.created)
    score: int | None = None
    fit_score: int | None = None
    engagement_score: int | None = None
    grade: str | None = None
    is_mql: bool = False
    model_version: int | None = None
    qualification: Qualification = Qualification.open
    rejected_at: datetime | None = None
    disqualified_rule: str | None = None
    erased: bool = False
    merged_into: UUID | None = None
    win_probability: float | None = None
    consent_withdrawn: frozenset[str] = frozenset()  # purposes (lead.consent_changed)
    customer_since: datetime | None = None  # when its latest won deal closed
    expansion_score: int | None = None
    expansion_qualified_at: datetime | None = None

    def summary(self) -> tuple[Any, ...] | None:
        """The stored counterpart of `LeadScore.summary`; None before the first score."""
        if self.score is None:
            return None
        return (self.score, self.fit_score, self.engagement_score, self.grade, self.is_mql,
                self.model_version, probability_shown(self.win_probability))


def probability_shown(win_probability: float | None) -> float | None:
    """A win probability as people read it (two decimals): a change of the shown value is a
    change of the score, smaller wobbles of a retrained model are not."""
    return None if win_probability is None else round(win_probability, 2)


def decay_factor(occurred_at: datetime, now: datetime, half_life_days: float | None) -> float:
    """The share of an activity's points left at `now`: halves every half-life.

    Activities stamped after `now` (clock skew between producers) count as happening now.
    """
    if half_life_days is None:
        return 1.0
    age_days = max((now - occurred_at).total_seconds(), 0.0) / _SECONDS_PER_DAY
    return float(0.5 ** (age_days / half_life_days))


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def fit_contributions(model: ScoringModel, lead: LeadFields,
                      event_id: str | None) -> list[ScoreContribution]:
    """One contribution per fit rule that matches the lead's fields; each counts once."""
    contributions = []
    for rule in model.config.fit_rules:
        reason = rule.when.match(lead)
        if reason is not None:
            contributions.append(ScoreContribution(
                rule_id=rule.id, points=rule.points, reason=reason,
                model_version=model.version, event_id=event_id,
            ))
    return contributions


@functools.lru_cache(maxsize=4096)  # a site's pages recur in every rescore's explanations
def page_of(url: str) -> str:
    """A URL as a score's explanation shows it: host and path only. The query and fragment
    stay out: campaign links carry emails and names there, and explanations travel in clear
    on lead.scored (only fields named personal are sealed)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}" if parts.netloc else parts.path or url.split("?")[0]


def _age_text(occurred_at: datetime, now: datetime) -> str:
    days = int(max((now - occurred_at).total_seconds(), 0.0) // _SECONDS_PER_DAY)
    return "today" if days == 0 else "1 day ago" if days == 1 else f"{days} days ago"


def _rule_contributions(rule: EngagementRule, activities: Sequence[Activity], now: datetime,
                        model: ScoringModel) -> list[ScoreContribution]:
    """Contributions of one engagement rule, newest activity first, until its cap is reached
    (see `rule_shares`)."""
    matching = sorted((a for a in activities if rule.matches(a.kind, a.url)),
                      key=lambda a: a.occurred_at, reverse=True)
    half_life = model.config.decay.half_life_days
    decayed = ((a, decay_factor(a.occurred_at, now, half_life)) for a in matching)
    return [explained(rule, share, now, model.version) for share in rule_shares(rule, decayed)]


class Share(NamedTuple):
    """What one activity adds to its engagement rule's total: `points` (signed), its decay
    `factor`, and whether the rule's cap was reached with it. A named tuple: a busy lead's
    rules are walked again every batch, and a tuple is the cheapest immutable record."""

    activity: Activity
    factor: float
    points: int
    capped: bool


def rule_shares(rule: EngagementRule,
                newest_first: Iterable[tuple[Activity, float]]) -> Iterator[Share]:
    """The shares of one engagement rule's matching activities (each with its decay factor),
    given newest first, until its cap is reached; activities that add 0 points are left out.

    Points decay per activity; the rule's total (capped) is rounded once, and each activity gets
    the part of that rounded total its own points add (cumulative rounding), so the
    contributions always sum to the rule's total.
    """
    if rule.repeatable:
        cap = math.inf if rule.cap is None else float(rule.cap)
    else:
        newest_first = itertools.islice(newest_first, 1)  # the newest is worth the most
        cap = float(abs(rule.points))
    sign = 1 if rule.points > 0 else -1
    period = rule.period_cap
    used_in_period: dict[int, int] = {}
    total, granted = 0.0, 0
    for activity, factor in newest_first:
        if total >= cap:
            break
        raw = abs(rule.points)
        if period is not None:
            # Fixed periods (counted from the Unix epoch), so a period's tally is the same
            # whenever the lead is rescored; the cap applies to points before decay.
            bucket = int(activity.occurred_at.timestamp() // (period.days * _SECONDS_PER_DAY))
            raw = min(raw, period.points - used_in_period.get(bucket, 0))
            if raw <= 0:
                continue
            used_in_period[bucket] = used_in_period.get(bucket, 0) + raw
        total = min(total + raw * factor, cap)
        points = int(total + 0.5) - granted  # round_half_up: the total is never negative
        granted += points
        if points != 0:
            yield Share(activity, factor, sign * points, total >= cap and rule.repeatable)


def explained(rule: EngagementRule, share: Share, now: datetime, version: int,
              reason: str | None = None) -> ScoreContribution:
    """An engagement rule's share as a score shows it, e.g. 'page_view (x.com/docs) 3 days
    ago, 93% of 2 after decay' (`reason`: `share_reason`, when the caller has it already)."""
    return ScoreContribution(
        rule_id=rule.id, points=share.points, model_version=version,
        reason=share_reason(rule, share, now) if reason is None else reason,
        event_id=share.activity.event_id,
    )


def share_reason(rule: EngagementRule, share: Share, now: datetime) -> str:
    """The text of `explained`."""
    activity, factor = share.activity, share.factor
    where = f" ({page_of(activity.url)})" if activity.url else ""
    decayed = f", {factor:.0%} of {rule.points} after decay" if factor < 0.995 else ""
    capped = " (cap reached)" if share.capped else ""
    return f"{activity.kind}{where} {_age_text(activity.occurred_at, now)}{decayed}{capped}"


def engagement_contributions(model: ScoringModel, activities: Sequence[Activity],
                             now: datetime) -> list[ScoreContribution]:
    """Contributions of every engagement rule, from stored activities, decayed to `now`.

    Activities older than the model's window count nothing (the repository need not load them).
    """
    window_start = now - timedelta(days=model.config.decay.window_days)
    in_window = [a for a in activities if a.occurred_at > window_start]
    contributions = []
    kinds = {a.kind for a in in_window}  # most rules name a kind the lead never did: skip them
    for rule in model.config.engagement_rules:
        if rule.activity_kind in kinds:
            contributions.extend(_rule_contributions(rule, in_window, now, model))
    for intensity in model.config.intensity_rules:
        contribution = intensity_contribution(intensity, in_window, now, model.version)
        if contribution is not None:
            contributions.append(contribution)
    return contributions


def intensity_contribution(rule: IntensityRule, activities: Sequence[Activity], now: datetime,
                           version: int) -> ScoreContribution | None:
    """The points of the band the rule's measure falls in at `now`, or None (no band, or 0);
    the event it names is the latest activity the measure counted."""
    return band_contribution(rule, rule.counted(activities, now), now, version)


_UNMEASURED = float("nan")


def band_contribution(rule: IntensityRule, counted: Sequence[Activity], now: datetime,
                      version: int, latest: Activity | None = None,
                      value: float | None = _UNMEASURED,
                      previous: ScoreContribution | None = None) -> ScoreContribution | None:
    """`intensity_contribution` from the activities the rule's measure counts at `now`;
    `latest` is the first of the latest of them, and `value` their measure, when the caller
    keeps them. `previous`, the rule's contribution the caller has already, is given back
    when it says the same (days since the last visit reads alike for a whole day)."""
    if value is _UNMEASURED:
        value = rule.measured(counted, now)
    band = rule.band_of(value)
    if band is None or band.points == 0 or value is None:
        return None
    if latest is None:
        latest = max(counted, key=lambda a: a.occurred_at, default=None)
    reason, event_id = rule.reason(value, band), None if latest is None else latest.event_id
    if previous is not None and (previous.rule_id, previous.points, previous.model_version,
                                 previous.reason, previous.event_id) == (
            rule.id, band.points, version, reason, event_id):
        return previous
    return ScoreContribution(rule_id=rule.id, points=band.points, model_version=version,
                             reason=reason, event_id=event_id)


def find_disqualification(model: ScoringModel, lead: LeadFields,
                          consent_withdrawn: frozenset[str] = frozenset(),
                          ) -> Disqualification | None:
    """The first disqualifier that matches the lead (or the withdrawn consents), if any."""
    for rule in model.config.disqualifiers:
        condition = rule.when
        reason = condition.match_withdrawn(consent_withdrawn) \
            if isinstance(condition, ConsentWithdrawn) else condition.match(lead)
        if reason is not None:
            return Disqualification(rule_id=rule.id, reason=reason)
    return None


def grade_for(config: ScoringModelConfig, fit_score: int) -> str:
    """The grade of a fit score: the first threshold it reaches, else the default grade."""
    for threshold in config.grades:  # sorted highest first by the config
        if fit_score >= threshold.min_fit:
            return threshold.grade
    return config.default_grade


def probability_in_shadow(config: ScoringModelConfig) -> bool:
    """Whether the version's learned probability runs in shadow: shown, never deciding."""
    return config.learning is not None and config.learning.shadow


def is_mql(config: ScoringModelConfig, score: int, grade: str, disqualified: bool,
           win_probability: float | None = None) -> bool:
    """Whether a lead is a marketing-qualified lead: enough score, a good grade, not excluded.

    A minimum probability in the MQL definition applies once the version has a trained model
    (`win_probability` is not None); until then the rules alone decide. In shadow
    (`learning.shadow`) it never applies: the probability is only shown beside the score.
    """
    if disqualified or score < config.mql.min_score or grade not in config.mql.grades:
        return False
    minimum = config.mql.min_probability
    if minimum is None or win_probability is None or probability_in_shadow(config):
        return True
    return win_probability >= minimum


def score_lead(model: ScoringModel, profile: LeadProfile, activities: Sequence[Activity],
               now: datetime, *, profile_event_id: str | None = None,
               disqualified: bool = False, win_probability: float | None = None,
               consent_withdrawn: frozenset[str] = frozenset(), consent: Consent | None = None,
               source: LeadSource | None = None,
               engagement: Sequence[ScoreContribution] | None = None,
               fit: Sequence[ScoreContribution] | None = None) -> LeadScore:
    """Score a lead: fit from its profile, consent and source, decayed engagement and intensity
    from its activities, grade, MQL.

    `disqualified` says an earlier disqualification stands: disqualification is final, so such
    a lead is never an MQL even when no disqualifier matches any more. `win_probability` is the
    learned model's prediction, if the version has one; `consent_withdrawn` the purposes the
    person withdrew consent to. `engagement` is `engagement_contributions(model, activities,
    now)` when the caller keeps it up to date already (`rules.engagement.EngagementTally`),
    `fit` likewise `fit_contributions` of the same lead.
    """
    lead = LeadFields(profile, consent, source)
    if fit is None:
        fit = fit_contributions(model, lead, profile_event_id)
    if engagement is None:
        engagement = engagement_contributions(model, activities, now)
    fit_score = sum(c.points for c in fit)
    engagement_score = sum(c.points for c in engagement)
    grade = grade_for(model.config, fit_score)
    disqualification = find_disqualification(model, lead, consent_withdrawn)
    return LeadScore(
        model_version=model.version,
        fit_score=fit_score,
        engagement_score=engagement_score,
        grade=grade,
        is_mql=is_mql(model.config, fit_score + engagement_score, grade,
                      disqualified or disqualification is not None, win_probability),
        contributions=(*fit, *engagement),
        disqualification=disqualification,
        win_probability=win_probability,
    )


def next_qualification(current: Qualification, mql: bool,
                       recycled: bool = False) -> tuple[Qualification, bool]:
    """The qualification after a scoring, and whether lead.qualified is to be sent now.

    lead.qualified goes out once when a lead becomes an MQL. After sales rejects it, a lead
    still above the threshold is not handed straight back: it qualifies again only on new
    engagement after the rejection (`recycled`: an activity that happened after it), or by
    crossing the threshold anew (dropping below MQL re-opens it).
    """
    if current is Qualification.rejected and recycled:
        current = Qualification.open
    if current is Qualification.open and mql:
        return Qualification.qualified, True
    if current is Qualification.rejected and not mql:
        return Qualification.open, False
    return current, False


def merged_qualification(*states: Qualification) -> Qualification:
    """The qualification of leads merged into one: one person is handed to sales once."""
    for state in (Qualification.qualified, Qualification.rejected):
        if state in states:
            return state
    return Qualification.open


def deal_features(lead: StoredLead, activity_counts: Mapping[str, int]) -> dict[str, Any]:
    """What scoring knew about a lead when its deal closed: the inputs a retrained model uses."""
    profile = lead.profile
    return {
        "profile": profile.model_dump(mode="json") if profile else None,
        "consent": lead.consent.model_dump(mode="json") if lead.consent else None,
        "source": lead.source.model_dump(mode="json") if lead.source else None,
        "email_domain": email_domain(profile.email) if profile else None,
        "job_title": profile.job_title if profile else None,
        "company_size": profile.company_size if profile else None,
        "industry": profile.industry if profile else None,
        "country": profile.country if profile else None,
        "has_phone": bool(profile and profile.phone),
        "score": lead.score,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "grade": lead.grade,
        "model_version": lead.model_version,
        "activity_counts": dict(sorted(activity_counts.items())),
    }
