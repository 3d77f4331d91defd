"""Replaying stored leads under a candidate model: MQLs, their win rate, weekly load. No I/O.

A score only rises at an event (a profile or an activity arriving): between events decay can
only lower it. So replaying a lead means scoring it at each of its event times, and the first
time it meets the MQL definition is when it would have been handed to sales.
"""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from leadloop.events.models import Consent, LeadProfile, LeadSource
from scoring.learning.domain import TrainedModel, predict, raw_features
from scoring.rules.activities import Activity
from scoring.rules.domain import (
    ScoringModel,
    find_disqualification,
    grade_for,
    intensity_contribution,
    probability_in_shadow,
)
from scoring.rules.lead_fields import LeadFields
from scoring.rules.model_config import EngagementRule

_SECONDS_PER_DAY = 86_400.0


ReplayActivity = tuple[str, str | None, float, float | None]
"""An activity as the replay needs it: (kind, URL, time as Unix seconds, seconds on the page).
A plain tuple, as the database's arrays zip into, because 100,000 leads have half a million of
them."""


@dataclass(frozen=True, slots=True)
class ReplayLead:
    """What the replay needs of a stored lead."""

    lead_id: UUID
    profile: LeadProfile
    created_at: float  # Unix seconds
    activities: Sequence[ReplayActivity]  # oldest first
    outcome: str | None  # "won", "lost", "not_converted" or None (no outcome)
    consent_withdrawn: frozenset[str] = frozenset()
    consent: Consent | None = None
    source: LeadSource | None = None
    numbers: Sequence[dict[str, float] | None] = ()  # each activity's numeric properties

    @property
    def fields(self) -> LeadFields:
        """What rules read of the lead."""
        return LeadFields(self.profile, self.consent, self.source)

    def as_activities(self) -> list[Activity]:
        """The activities as scoring stores them (built only where rules need them)."""
        numbers = list(self.numbers) or [None] * len(self.activities)
        return [Activity(activity_id=self.lead_id, kind=kind, url=url, seconds=seconds,
                         occurred_at=datetime.fromtimestamp(at, UTC), numbers=extra)
                for (kind, url, at, seconds), extra in zip(self.activities, numbers,
                                                           strict=True)]


def _rule_points(rule: EngagementRule, newest_first: Sequence[float], now: float,
                 window_start: float, half_life: float | None) -> int:
    """The points one rule gives at `now` from its matching activities' times (newest first).

    The same sum `domain._rule_contributions` makes, on plain floats: fast enough to replay
    every lead at every one of its events.
    """
    if rule.repeatable:
        cap = math.inf if rule.cap is None else float(rule.cap)
    else:
        cap = float(abs(rule.points))
    period = rule.period_cap
    used: dict[int, int] = {}
    total = 0.0
    for at in newest_first:
        if at > now:
            continue
        if at <= window_start or total >= cap:
            break
        raw = abs(rule.points)
        if period is not None:
            bucket = int(at // (period.days * _SECONDS_PER_DAY))
            raw = min(raw, period.points - used.get(bucket, 0))
            if raw <= 0:
                continue
            used[bucket] = used.get(bucket, 0) + raw
        factor = 1.0 if half_life is None else \
            0.5 ** (max(now - at, 0.0) / _SECONDS_PER_DAY / half_life)
        total = min(total + raw * factor, cap)
        if not rule.repeatable:
            break  # once-only: the newest activity is the one that counts
    # total >= 0, so this is round_half_up(total) without its sign handling.
    return (1 if rule.points > 0 else -1) * int(total + 0.5)


def _matching_times(model: ScoringModel, activities: Sequence[ReplayActivity],
                    matcher: dict[tuple[str, str | None], tuple[int, ...]]) -> list[list[float]]:
    """Per engagement rule, the times of the activities it counts, newest first.

    `matcher` remembers which rules an activity's (kind, URL) matches: the same pages recur
    across leads, so most activities cost one lookup instead of a test per rule.
    """
    rules = model.config.engagement_rules
    times: list[list[float]] = [[] for _ in rules]
    for kind, url, at, _ in reversed(activities):
        key = (kind, url)
        hits = matcher.get(key)
        if hits is None:
            hits = matcher[key] = tuple(i for i, rule in enumerate(rules)
                                        if rule.matches(kind, url))
        for i in hits:
            times[i].append(at)
    return times


def _engagement(model: ScoringModel, times: list[list[float]], now: float) -> int:
    config = model.config
    window_start = now - config.decay.window_days * _SECONDS_PER_DAY
    return sum(_rule_points(rule, newest_first, now, window_start, config.decay.half_life_days)
               for rule, newest_first in zip(config.engagement_rules, times, strict=True)
               if newest_first)


def engagement_points(model: ScoringModel, activities: Sequence[Activity], now: datetime) -> int:
    """The engagement score at `now` of activities (intensity rules included), without
    explanations."""
    replay = sorted(((a.kind, a.url, a.occurred_at.timestamp(), a.seconds) for a in activities),
                    key=lambda a: a[2])
    window_start = now - timedelta(days=model.config.decay.window_days)
    in_window = [a for a in activities if a.occurred_at > window_start]
    intensity = sum(c.points for rule in model.config.intensity_rules if (
        c := intensity_contribution(rule, in_window, now, model.version)) is not None)
    return _engagement(model, _matching_times(model, replay, {}), now.timestamp()) + intensity


def _max_engagement(model: ScoringModel) -> float:
    """An upper bound of the engagement score, to skip leads that can never qualify."""
    total = 0.0
    for rule in model.config.engagement_rules:
        if rule.points > 0:
            total += (rule.cap if rule.cap is not None else math.inf) if rule.repeatable \
                else rule.points
    for intensity in model.config.intensity_rules:
        total += max(0, *(band.points for band in intensity.bands))
    return total


class _LazyActivities:
    """A lead's activities as scoring stores them, built on first use only."""

    def __init__(self, lead: ReplayLead) -> None:
        self._lead = lead
        self._built: list[Activity] | None = None

    def get(self) -> list[Activity]:
        """The activities (built now, if not yet)."""
        if self._built is None:
            self._built = self._lead.as_activities()
        return self._built


class _Intensity:
    """The intensity rules' points of one lead at its moments; activities built once."""

    def __init__(self, model: ScoringModel, activities: _LazyActivities) -> None:
        self._model, self._activities = model, activities
        bands = [[band.points for band in rule.bands] for rule in model.config.intensity_rules]
        self._most = sum(max(0, *points) for points in bands)
        self._can_lower = any(p < 0 for points in bands for p in points)

    def reaches(self, score: int, moment: float, minimum: int) -> bool:
        """Whether `score` plus the intensity points at `moment` reaches `minimum`, computing
        them only when they can make the difference (the replay's hot loop)."""
        if score + self._most < minimum:
            return False
        if score >= minimum and not self._can_lower:
            return True
        return score + self.points(moment) >= minimum

    def points(self, moment: float) -> int:
        """The intensity points at `moment` (0 when the model has no intensity rules)."""
        rules = self._model.config.intensity_rules
        if not rules:
            return 0
        now = datetime.fromtimestamp(moment, UTC)
        seen = [a for a in self._activities.get() if a.occurred_at <= now]
        return sum(c.points for rule in rules if (
            c := intensity_contribution(rule, seen, now, self._model.version)) is not None)


class _Probability:
    """The learned model's gate of one lead's moments; its activities are built once per lead,
    and only when the rules alone would qualify it."""

    def __init__(self, model: ScoringModel, lead: ReplayLead, trained: TrainedModel | None,
                 activities: _LazyActivities):
        config = model.config
        self._minimum = config.mql.min_probability
        self._gates = not (self._minimum is None or trained is None or config.learning is None
                           or probability_in_shadow(config))
        self._model, self._lead, self._trained = model, lead, trained
        self._activities = activities

    def allows(self, moment: float) -> bool:
        """Whether the probability at `moment` meets the minimum (always, if none applies)."""
        if not self._gates:
            return True
        config, lead = self._model.config, self._lead
        assert config.learning is not None and self._trained is not None  # else not gating
        raw = raw_features(config.learning, lead.fields, self._activities.get(),
                           datetime.fromtimestamp(moment, UTC), config.decay.window_days)
        return predict(self._trained, raw) >= (self._minimum or 0.0)


def qualified_at(model: ScoringModel, lead: ReplayLead, trained: TrainedModel | None = None,
                 matcher: dict[tuple[str, str | None], tuple[int, ...]] | None = None,
                 ) -> float | None:
    """When (Unix seconds) the lead would first have become an MQL under the model, or None.

    Only the candidate's own disqualifiers exclude a lead: whether the model that scored it
    live disqualified it is beside the point when judging a different model.
    """
    config = model.config
    fields = lead.fields
    if find_disqualification(model, fields, lead.consent_withdrawn) is not None:
        return None
    fit = sum(rule.points for rule in config.fit_rules if rule.when.match(fields))
    grade = grade_for(config, fit)
    if grade not in config.mql.grades or fit + _max_engagement(model) < config.mql.min_score:
        return None
    times = _matching_times(model, lead.activities, {} if matcher is None else matcher)
    moments = [lead.created_at] + [at for _, _, at, _ in lead.activities
                                   if at > lead.created_at]
    activities = _LazyActivities(lead)
    probability = _Probability(model, lead, trained, activities)
    intensity = _Intensity(model, activities)
    for moment in moments:
        if intensity.reaches(fit + _engagement(model, times, moment), moment,
                             config.mql.min_score) and probability.allows(moment):
            return moment
    return None


def week_of(moment: float) -> str:
    """The ISO week a moment (Unix seconds) falls in, e.g. 2026-W48."""
    year, week, _ = datetime.fromtimestamp(moment, UTC).isocalendar()
    return f"{year}-W{week:02d}"


def backtest(model: ScoringModel, leads: Iterable[ReplayLead],
             trained: TrainedModel | None = None) -> dict[str, Any]:
    """MQLs the model would make, their win rate, the share of won deals caught, weekly load."""
    replayed = mqls = won = lost = all_won = 0
    weekly: Counter[str] = Counter()
    matcher: dict[tuple[str, str | None], tuple[int, ...]] = {}
    for lead in leads:
        replayed += 1
        all_won += lead.outcome == "won"
        moment = qualified_at(model, lead, trained, matcher)
        if moment is None:
            continue
        mqls += 1
        weekly[week_of(moment)] += 1
        won += lead.outcome == "won"
        lost += lead.outcome in ("lost", "not_converted")
    return {
        "model_version": model.version,
        "leads_replayed": replayed,
        "mqls": mqls,
        "mql_rate": round(mqls / replayed, 4) if replayed else None,
        "mqls_with_closed_deals": won + lost,
        "mql_win_rate": round(won / (won + lost), 4) if won + lost else None,
        "won_deals_caught": won,
        "won_deals_total": all_won,
        "weekly_mqls": [{"week": week, "mqls": count} for week, count in sorted(weekly.items())],
        "peak_weekly_mqls": max(weekly.values(), default=0),
        "mean_weekly_mqls": round(mqls / len(weekly), 2) if weekly else 0,
    }
