"""A lead's engagement contributions kept up to date as its activities arrive, at one fixed
`now`. No I/O.

A batch rescores a lead once per activity, each time over its whole recent history. Within a
batch `now` does not move, so which rules an activity matches, its decay factor and whether an
intensity measure counts it are fixed: `EngagementTally` sorts each rule's matches once, keeps
them sorted as activities are appended, and redoes only the rules an appended activity touches
(a capped rule's walk stops at its cap, so older activities need no decay factor at all). What
it gives is exactly `engagement_contributions` over the same activities: the same walk
(`rule_shares`) over the same order, the same measure over the same counted activities
(tests/unit/test_scoring_engagement_tally.py holds it to that).
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadloop.events.models import ScoreContribution
from scoring.rules.activities import Activity
from scoring.rules.domain import (
    ScoringModel,
    Share,
    band_contribution,
    decay_factor,
    explained,
    rule_shares,
)
from scoring.rules.model_config import EngagementRule, IntensityRule, ScoringModelConfig


def _occurred_at(activity: Activity) -> datetime:
    return activity.occurred_at


@dataclass(slots=True)
class _RuleMatches:
    """One engagement rule's matching activities oldest first (the walk reads them backwards:
    newest first, equal times in the order they came, as a stable sort newest first has
    them), and its contributions until an activity is added."""

    rule: EngagementRule
    oldest_first: list[Activity]
    contributions: list[ScoreContribution] | None = None  # None: to work out again
    # Explanations made so far, by (activity, points, cap reached): an activity keeps its
    # share while newer ones arrive, so its pydantic model is built once, not per rescore.
    explained: dict[tuple[int, int, bool], ScoreContribution] = field(default_factory=dict)

    def add(self, activity: Activity) -> None:
        # Before every activity of the same time: read backwards, it comes after them.
        at = bisect.bisect_left(self.oldest_first, activity.occurred_at, key=_occurred_at)
        self.oldest_first.insert(at, activity)
        self.contributions = None


@dataclass(slots=True)
class _Counted:
    """What one intensity rule's measure counts (in arrival order, as `counted` keeps it), and
    its contribution until an activity it counts is added."""

    rule: IntensityRule
    start: datetime
    activities: list[Activity]
    contribution: ScoreContribution | None = None
    stale: bool = True
    latest: Activity | None = None  # the first counted of the latest time, as max() finds it

    def count(self, activity: Activity) -> None:
        """Count the activity if it is in the rule's window and has its attribute (its kind
        and URL are the rule's)."""
        attribute = self.rule.attribute
        if self.start < activity.occurred_at and (
                attribute is None or activity.number(attribute) is not None):
            self.activities.append(activity)
            self.stale = True
            if self.latest is None or activity.occurred_at > self.latest.occurred_at:
                self.latest = activity


class _Routes:
    """Which rules of one model an activity of a kind at a URL counts for: (engagement rules
    it matches, intensity rules whose kind and URL it has), worked out once per kind and URL.
    Page views come from a site's few hundred pages, and matching is string work (a URL
    lowered, searched, a pattern run) that would otherwise be redone for every activity of
    every rescore."""

    LIMIT = 20_000  # distinct (kind, URL) pairs kept; then it starts over

    def __init__(self, model: ScoringModel) -> None:
        self._engagement = model.config.engagement_rules
        self._intensity = model.config.intensity_rules
        self._known: dict[tuple[str, str | None], tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def of(self, kind: str, url: str | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(indexes of the engagement rules, indexes of the intensity rules)."""
        routes = self._known.get((kind, url))
        if routes is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            routes = (tuple(n for n, rule in enumerate(self._engagement)
                            if rule.matches(kind, url)),
                      tuple(n for n, rule in enumerate(self._intensity)
                            if rule.looks_at(kind, url)))
            self._known[(kind, url)] = routes
        return routes


# By model config; the config is kept with its routes, so its id is never another's. A process
# sees a handful of model versions.
_routes: dict[int, tuple[ScoringModelConfig, _Routes]] = {}


def _routes_of(model: ScoringModel) -> _Routes:
    known = _routes.get(id(model.config))
    if known is None:
        if len(_routes) >= 64:
            _routes.clear()
        known = _routes[id(model.config)] = (model.config, _Routes(model))
    return known[1]


class EngagementTally:
    """`engagement_contributions(model, activities, now)` for a growing list of activities."""

    def __init__(self, model: ScoringModel, now: datetime,
                 activities: Sequence[Activity] = ()) -> None:
        self._model, self._now = model, now
        decay = model.config.decay
        self._window_start = now - timedelta(days=decay.window_days)
        self._half_life = decay.half_life_days
        self._factors: dict[int, float] = {}  # decay factors by activity, worked out once
        self._route = _routes_of(model).of
        self._engagement = model.config.engagement_rules
        matching: dict[int, list[Activity]] = {}  # by rule index
        self._intensity = [_Counted(rule, now - timedelta(days=rule.window_days), [])
                           for rule in model.config.intensity_rules]
        for activity in activities:
            if activity.occurred_at > self._window_start:
                engagement, intensity = self._route(activity.kind, activity.url)
                for n in engagement:
                    matching.setdefault(n, []).append(activity)
                for n in intensity:
                    self._intensity[n].count(activity)
        # Only the rules something matched (a lead does a few kinds of things): fewer objects
        # per lead and batch for the garbage collector to go over.
        self._rules: dict[int, _RuleMatches] = {}
        for n, matches in matching.items():
            newest_first = sorted(matches, key=_occurred_at, reverse=True)
            self._rules[n] = _RuleMatches(self._engagement[n], newest_first[::-1])

    def add(self, activity: Activity) -> None:
        """Count one more activity (the latest arrival, whatever its time)."""
        if activity.occurred_at <= self._window_start:
            return  # older than the model's window: counts nothing
        engagement, intensity = self._route(activity.kind, activity.url)
        for n in engagement:
            matches = self._rules.get(n)
            if matches is None:
                matches = self._rules[n] = _RuleMatches(self._engagement[n], [])
            matches.add(activity)
        for n in intensity:
            self._intensity[n].count(activity)

    def contributions(self) -> list[ScoreContribution]:
        """Every engagement rule's contributions, then every intensity rule's, at `now`."""
        out: list[ScoreContribution] = []
        for n in range(len(self._engagement)):  # in the model's order
            matches = self._rules.get(n)
            if matches is None:
                continue
            if matches.contributions is None:
                newest_first = ((a, self._factor(a)) for a in reversed(matches.oldest_first))
                matches.contributions = [self._explained(matches, share) for share in
                                         rule_shares(matches.rule, newest_first)]
            out.extend(matches.contributions)
        for counted in self._intensity:
            if counted.stale:
                # Days since the last activity reads only the latest: no need to go over all.
                measured = counted.activities if counted.rule.measure != "days_since_last" \
                    or counted.latest is None else [counted.latest]
                counted.contribution = band_contribution(
                    counted.rule, measured, self._now, self._model.version, counted.latest)
                counted.stale = False
            if counted.contribution is not None:
                out.append(counted.contribution)
        return out

    def _factor(self, activity: Activity) -> float:
        factor = self._factors.get(id(activity))  # the activity is kept: its id stays its own
        if factor is None:
            factor = decay_factor(activity.occurred_at, self._now, self._half_life)
            self._factors[id(activity)] = factor
        return factor

    def _explained(self, matches: _RuleMatches, share: Share) -> ScoreContribution:
        key = (id(share.activity), share.points, share.capped)
        contribution = matches.explained.get(key)
        if contribution is None:
            contribution = explained(matches.rule, share, self._now, self._model.version)
            matches.explained[key] = contribution
        return contribution
