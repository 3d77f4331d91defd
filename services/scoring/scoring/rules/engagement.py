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

Most rescores of a busy lead change nothing it stores, so the tally also gives the engagement
points alone (`points`): the shares walked and the measures' values, without the explanations
(pydantic models, text), which are built only when a score is shown (`contributions`).
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from leadloop.events.models import ScoreContribution
from scoring.rules.activities import SECONDS_PROPERTY, Activity
from scoring.rules.domain import (
    ScoringModel,
    Share,
    band_contribution,
    decay_factor,
    explained,
    rule_shares,
    share_reason,
)
from scoring.rules.model_config import EngagementRule, IntensityRule, ScoringModelConfig

_EXPLAINED_KEPT = 256
"""Explanations kept per rule from one batch to the next; more (a lead's shares that aged
out) and they are built anew."""


def _occurred_at(activity: Activity) -> datetime:
    return activity.occurred_at


@dataclass(slots=True)
class _RuleMatches:
    """One engagement rule's matching activities oldest first (the walk reads them backwards:
    newest first, equal times in the order they came, as a stable sort newest first has
    them), and its contributions until an activity is added."""

    rule: EngagementRule
    oldest_first: list[Activity]
    shares: list[Share] | None = None  # None: to walk again
    contributions: list[ScoreContribution] | None = None  # None: to explain again
    points: int | None = None  # the sum of the shares' points; None: to walk again
    # Explanations made so far, by (activity, event, points, reason): an activity keeps its
    # share while newer ones arrive, and mostly its text from one batch to the next, so its
    # pydantic model is built once, not per rescore.
    explained: dict[tuple[UUID, str | None, int, str], ScoreContribution] = field(
        default_factory=dict)

    def add(self, activity: Activity) -> None:
        # Before every activity of the same time: read backwards, it comes after them.
        at = bisect.bisect_left(self.oldest_first, activity.occurred_at, key=_occurred_at)
        self.oldest_first.insert(at, activity)
        self.shares = self.contributions = None
        # A repeatable rule's points are its decayed total, min(sum of points x decay, cap),
        # rounded: whatever the order, one more activity only adds to the sum. Once that
        # rounds to the cap, it stays there. Not so with a period cap (a newer activity in a
        # period takes the points of older ones, decayed differently).
        rule = self.rule
        if self.points is None or rule.cap is None or rule.period_cap is not None \
                or abs(self.points) != rule.cap:
            self.points = None


def _summed(rule: IntensityRule) -> str | None:
    """The numeric property a measure adds up (time on site: seconds on the page), if any."""
    return SECONDS_PROPERTY if rule.measure == "time_on_site" \
        else rule.attribute if rule.measure == "sum" else None


@dataclass(slots=True)
class _Counted:
    """What one intensity rule's measure counts (in arrival order, as `counted` keeps it), its
    value and its contribution until an activity it counts is added."""

    rule: IntensityRule
    start: datetime
    activities: list[Activity]
    summed: str | None  # the property a summed measure adds up
    contribution: ScoreContribution | None = None
    stale: bool = True  # the contribution is to be worked out again
    latest: Activity | None = None  # the first counted of the latest time, as max() finds it
    # A summed measure's running total: the same additions in the same order as `measured`'s
    # sum() over `activities`, so the same float, without going over them all per rescore.
    total: float = 0
    earliest: datetime | None = None  # of the counted activities
    band_points: int = 0
    valued: bool = False  # `band_points` is up to date

    def count(self, activity: Activity) -> None:
        """Count the activity if it is in the rule's window and has its attribute (its kind
        and URL are the rule's)."""
        rule = self.rule
        attribute = rule.attribute
        if self.start < activity.occurred_at and (
                attribute is None or activity.number(attribute) is not None):
            self.activities.append(activity)
            self.stale, self.valued = True, False
            if self.summed is not None:
                self.total += activity.number(self.summed) or 0.0
            if self.latest is None or activity.occurred_at > self.latest.occurred_at:
                self.latest = activity
            if self.earliest is None or activity.occurred_at < self.earliest:
                self.earliest = activity.occurred_at

    def measured(self) -> list[Activity]:
        """What the measure reads: days since the last activity reads only the latest."""
        if self.rule.measure != "days_since_last" or self.latest is None:
            return self.activities
        return [self.latest]

    def value(self, now: datetime) -> float | None:
        """The measure's value at `now` (`rule.measured` of what it counts)."""
        if self.summed is not None:
            return float(self.total)
        return self.rule.measured(self.measured(), now)

    def points(self, now: datetime) -> int:
        """The points of the band the measure's value falls in (0 for none), as
        `band_contribution` gives them."""
        if not self.valued:
            band = self.rule.band_of(self.value(now))
            self.band_points, self.valued = (0 if band is None else band.points), True
        return self.band_points


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
        self._intensity = [_Counted(rule, now - timedelta(days=rule.window_days), [],
                                    _summed(rule))
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

    @property
    def model(self) -> ScoringModel:
        """The model the tally applies."""
        return self._model

    def advance(self, now: datetime) -> bool:
        """Move the tally to a later `now` (the next batch's), so that it gives what a tally
        built at `now` over the same activities would: the walks and measures are redone at
        the new time, only what left a window is dropped (the oldest). False, and unchanged,
        when `now` is earlier than the tally's (build a new one then)."""
        if now < self._now:
            return False
        if now == self._now:
            return True
        self._now = now
        self._window_start = now - timedelta(days=self._model.config.decay.window_days)
        self._factors.clear()
        for n, matches in list(self._rules.items()):
            gone = bisect.bisect_right(matches.oldest_first, self._window_start,
                                       key=_occurred_at)
            del matches.oldest_first[:gone]
            if not matches.oldest_first:
                del self._rules[n]  # as a new tally: only the rules something matched
                continue
            matches.shares = matches.contributions = matches.points = None
            if len(matches.explained) > _EXPLAINED_KEPT:
                matches.explained.clear()
        for n, counted in enumerate(self._intensity):
            start = now - timedelta(days=counted.rule.window_days)
            if counted.earliest is not None and counted.earliest <= start:
                # Something left the rule's window: counted again, in arrival order, so a
                # summed measure adds up as a new tally would.
                self._intensity[n] = _Counted(counted.rule, start, [], counted.summed)
                for activity in counted.activities:
                    self._intensity[n].count(activity)
            else:
                counted.start = start
                counted.stale, counted.valued = True, False
        return True

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

    def points(self) -> int:
        """The engagement score: the sum of `contributions()`' points, without explaining
        them."""
        total = 0
        for matches in self._rules.values():
            if matches.points is None:
                self._shares(matches)
            assert matches.points is not None
            total += matches.points
        for counted in self._intensity:
            total += counted.points(self._now)
        return total

    def contributions(self) -> list[ScoreContribution]:
        """Every engagement rule's contributions, then every intensity rule's, at `now`."""
        out: list[ScoreContribution] = []
        for n in range(len(self._engagement)):  # in the model's order
            matches = self._rules.get(n)
            if matches is None:
                continue
            if matches.contributions is None:
                matches.contributions = [self._explained(matches, share)
                                         for share in self._shares(matches)]
            out.extend(matches.contributions)
        for counted in self._intensity:
            if counted.stale:
                counted.contribution = band_contribution(
                    counted.rule, counted.measured(), self._now, self._model.version,
                    counted.latest, counted.value(self._now), counted.contribution)
                counted.stale = False
            if counted.contribution is not None:
                out.append(counted.contribution)
        return out

    def _shares(self, matches: _RuleMatches) -> list[Share]:
        if matches.shares is None:
            newest_first = ((a, self._factor(a)) for a in reversed(matches.oldest_first))
            matches.shares = shares = list(rule_shares(matches.rule, newest_first))
            matches.points = sum(share.points for share in shares)
        return matches.shares

    def _factor(self, activity: Activity) -> float:
        factor = self._factors.get(id(activity))  # the activity is kept: its id stays its own
        if factor is None:
            factor = decay_factor(activity.occurred_at, self._now, self._half_life)
            self._factors[id(activity)] = factor
        return factor

    def _explained(self, matches: _RuleMatches, share: Share) -> ScoreContribution:
        activity = share.activity
        reason = share_reason(matches.rule, share, self._now)
        key = (activity.activity_id, activity.event_id, share.points, reason)
        contribution = matches.explained.get(key)
        if contribution is None:
            contribution = explained(matches.rule, share, self._now, self._model.version,
                                     reason)
            matches.explained[key] = contribution
        return contribution
