"""Learning from outcomes: features, a logistic regression, its evaluation. No I/O.

Won deals are positives; lost deals and leads closed as not converted are negatives. The
trained model is stored as plain numbers (an intercept and one weight per category, per bin of
a numeric feature, or per linear term, with the edges and scaling used), so a prediction is a
readable sum computed without scikit-learn, and each feature's part of a lead's probability
can be shown beside its score (`explain`).

Training evaluates on a stratified held-out share of leads (AUC, Brier score, reliability),
then refits on every outcome for the model that is served.
"""

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NotRequired
from uuid import UUID

from typing_extensions import TypedDict

from scoring.learning.features import (
    ActivityCountFeature,
    CategoricalFeature,
    EngagementFeature,
    LearningConfig,
    NumericFeature,
    NumericKind,
    RecencyFeature,
    SecondsOnSiteFeature,
)
from scoring.rules.activities import Activity
from scoring.rules.lead_fields import LeadFields, field_value

MISSING = "(missing)"
OTHER = "(other)"
Raw = str | float | None
RELIABILITY_BINS = 10

# A trained model is stored as JSON (model_trainings.model) and read back in this shape; the
# repository validates it on the way in. TypedDicts (typing_extensions' for pydantic on 3.11)
# because the stored and served form is the same plain JSON.


class CategoricalTerm(TypedDict):
    """1 when the feature has this (kept) value, else 0."""

    feature: str
    kind: Literal["categorical"]
    level: str
    weight: float


class NumericTerm(TypedDict):
    """The feature's value, standardised with the training data's mean and scale."""

    feature: str
    kind: Literal["numeric"]
    mean: float
    scale: float
    weight: float


class BinTerm(TypedDict):
    """1 when the feature's value is in [low, high) (an open end is None), or, for the
    `missing` bin, when it has no value."""

    feature: str
    kind: Literal["bin"]
    low: NotRequired[float | None]
    high: NotRequired[float | None]
    missing: NotRequired[bool]
    weight: float


Term = CategoricalTerm | NumericTerm | BinTerm


class TrainedModel(TypedDict):
    """A learned model as stored: its intercept and weighted terms, plain numbers (`train`)."""

    intercept: float
    terms: list[Term]


class TrainingResult(TypedDict):
    """What a training stores: the model served (refit on every outcome) and its evaluation."""

    model: TrainedModel
    evaluation: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Example:
    """One outcome: what was known about its lead when it closed, and whether it was won."""

    lead_id: UUID
    raw: dict[str, Raw]
    won: bool
    rules_score: int
    outcome: str = ""  # won, lost or not_converted


def _number(value: object) -> float | None:
    """A number from a field's value: booleans (consent flags) count as 1 and 0."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def raw_features(config: LearningConfig, lead: LeadFields, activities: Sequence[Activity],
                 at: datetime, window_days: int) -> dict[str, Raw]:
    """The configured features of a lead at `at`, from activities within the window before it."""
    start = at - timedelta(days=window_days)
    seen = [a for a in activities if start < a.occurred_at <= at]
    values: dict[str, Raw] = {}
    for feature in config.features:
        if isinstance(feature, CategoricalFeature):
            value = field_value(lead, feature.field)
            values[feature.name] = MISSING if value is None or value == "" else \
                str(value).strip().casefold()
        elif isinstance(feature, NumericFeature):
            values[feature.name] = _number(field_value(lead, feature.field))
        elif isinstance(feature, ActivityCountFeature):
            values[feature.name] = float(sum(
                1 for a in seen if feature.activity_kind in (None, a.kind)))
        elif isinstance(feature, RecencyFeature):
            latest = max((a.occurred_at for a in seen), default=None)
            values[feature.name] = float(window_days) if latest is None else \
                max((at - latest).total_seconds(), 0.0) / 86_400
        elif isinstance(feature, SecondsOnSiteFeature):
            values[feature.name] = float(sum(a.seconds or 0.0 for a in seen))
        elif isinstance(feature, EngagementFeature):
            measured = feature.value(seen, at)
            values[feature.name] = float(feature.window_days) if measured is None else measured
    return values


def _hash_share(lead_id: UUID) -> float:
    digest = hashlib.sha256(lead_id.bytes).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def is_held_out(lead_id: UUID, share: float) -> bool:
    """Whether a lead falls in a share by a stable hash, so reruns agree."""
    return _hash_share(lead_id) < share


def stratified_split(examples: Sequence[Example], share: float,
                     ) -> tuple[list[Example], list[Example]]:
    """(training, held out): per outcome class, the `share` of leads first by a stable hash
    is held out, so both splits keep the win rate; a lead's outcomes stay in one split."""
    won_leads = {e.lead_id for e in examples if e.won}
    by_class: dict[bool, list[UUID]] = {True: [], False: []}
    for lead_id in {e.lead_id for e in examples}:
        by_class[lead_id in won_leads].append(lead_id)
    held: set[UUID] = set()
    for leads in by_class.values():
        leads.sort(key=lambda lead_id: (_hash_share(lead_id), lead_id))
        held.update(leads[:round(len(leads) * share)])
    return ([e for e in examples if e.lead_id not in held],
            [e for e in examples if e.lead_id in held])


def _quantile_edges(numbers: Sequence[float], bins: int) -> list[float]:
    """Inner edges splitting the numbers into about equal bins (ties kept together)."""
    ordered = sorted(numbers)
    if not ordered:
        return []
    edges = {ordered[min(len(ordered) - 1, (len(ordered) * k) // bins)] for k in range(1, bins)}
    return sorted(edge for edge in edges if edge > ordered[0])


def _design(config: LearningConfig, examples: Sequence[Example]) -> list[Term]:
    """The model's terms (weights 0 until fitted): per kept category, per bin of a binned
    number, per linear number."""
    terms: list[Term] = []
    for feature in config.features:
        column = [e.raw.get(feature.name) for e in examples]
        if isinstance(feature, CategoricalFeature):
            counts = Counter(str(v) for v in column)
            kept = sorted(level for level, _ in counts.most_common(feature.max_levels))
            terms.extend(CategoricalTerm(feature=feature.name, kind="categorical", level=level,
                                         weight=0.0) for level in kept)
            continue
        numbers = [float(v) for v in column if isinstance(v, float | int)]
        terms.extend(_numeric_terms(feature, numbers, any(v is None for v in column)))
    return terms


def _numeric_terms(feature: NumericKind, numbers: Sequence[float],
                   has_missing: bool) -> list[Term]:
    if feature.encoding == "linear":
        mean = sum(numbers) / len(numbers) if numbers else 0.0
        variance = sum((n - mean) ** 2 for n in numbers) / len(numbers) if numbers else 0.0
        return [NumericTerm(feature=feature.name, kind="numeric", mean=mean,
                            scale=math.sqrt(variance) or 1.0, weight=0.0)]
    edges = _quantile_edges(numbers, feature.bins)
    terms: list[Term] = [
        BinTerm(feature=feature.name, kind="bin", low=low, high=high, weight=0.0)
        for low, high in zip([None, *edges], [*edges, None], strict=True)]
    if has_missing:
        terms.append(BinTerm(feature=feature.name, kind="bin", missing=True, weight=0.0))
    return terms


def _in_bin(term: BinTerm, value: Raw) -> bool:
    if term.get("missing"):
        return value is None
    if value is None or isinstance(value, str):
        return False
    low, high = term["low"], term["high"]
    return (low is None or value >= low) and (high is None or value < high)


def _value(term: Term, value: Raw) -> float:
    """The design-matrix entry of one term for a raw value."""
    if term["kind"] == "categorical":
        return 1.0 if str(value) == term["level"] else 0.0
    if term["kind"] == "bin":
        return 1.0 if _in_bin(term, value) else 0.0
    number = term["mean"] if value is None or isinstance(value, str) else float(value)
    return (number - term["mean"]) / term["scale"]


def _row(terms: Sequence[Term], raw: dict[str, Raw]) -> list[float]:
    return [_value(term, raw.get(term["feature"])) for term in terms]


def _probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


def predict(trained: TrainedModel, raw: dict[str, Raw]) -> float:
    """The win probability a stored model gives a lead's raw features."""
    terms = trained["terms"]
    logit = trained["intercept"] + sum(
        t["weight"] * x for t, x in zip(terms, _row(terms, raw), strict=True))
    return _probability(logit)


def term_name(term: Term) -> str:
    """A term as people read it: 'source.utm_source = google', 'seconds_on_site in [60, 300)'."""
    feature = term["feature"]
    if term["kind"] == "categorical":
        return f"{feature} = {term['level']}"
    if term["kind"] == "bin":
        if term.get("missing"):
            return f"{feature} missing"
        low = "-inf" if term["low"] is None else f"{term['low']:g}"
        high = "inf" if term["high"] is None else f"{term['high']:g}"
        return f"{feature} in [{low}, {high})"
    return feature


def explain(trained: TrainedModel, raw: dict[str, Raw]) -> list[dict[str, Any]]:
    """Each feature's part of a lead's predicted log-odds (the terms it has), largest first:
    what the probability beside a score is made of."""
    parts: dict[str, dict[str, Any]] = {}
    for term in trained["terms"]:
        x = _value(term, raw.get(term["feature"]))
        if x == 0.0:
            continue
        part = parts.setdefault(term["feature"], {
            "feature": term["feature"], "value": raw.get(term["feature"]), "terms": [],
            "log_odds": 0.0})
        part["terms"].append(term_name(term))
        part["log_odds"] += term["weight"] * x
    rows = [{**p, "log_odds": round(p["log_odds"], 4), "terms": ", ".join(p["terms"])}
            for p in parts.values()]
    return sorted(rows, key=lambda p: abs(p["log_odds"]), reverse=True)


def auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties count half); None without both wins and losses."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: pair[0])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2  # ranks i+1..j share their mean
        rank_sum += average_rank * sum(1 for _, won in ranked[i:j] if won)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _bands(labels: Sequence[bool], scores: Sequence[float], edges: Sequence[float],
           fmt: str) -> list[dict[str, Any]]:
    """Win rate per band [edge, next edge); below the first edge and from the last one up are
    bands too, so every lead lands in one (negative rule scores included)."""
    bands = []
    for low, high in zip([-math.inf, *edges], [*edges, math.inf], strict=True):
        inside = [won for won, s in zip(labels, scores, strict=True) if low <= s < high]
        if inside:
            label = f"<{high:{fmt}}" if low == -math.inf else \
                f"{low:{fmt}}+" if high == math.inf else f"{low:{fmt}}-{high:{fmt}}"
            bands.append({"band": label, "leads": len(inside), "won": sum(inside),
                          "win_rate": round(sum(inside) / len(inside), 4)})
    return bands


def top_lift(labels: Sequence[bool], scores: Sequence[float], share: float = 0.2) -> float | None:
    """Win rate of the top `share` of leads by score, divided by the overall win rate."""
    if not labels or not any(labels):
        return None
    ranked = sorted(zip(scores, labels, strict=True), key=lambda p: p[0], reverse=True)
    top = ranked[:max(1, round(len(ranked) * share))]
    return round((sum(w for _, w in top) / len(top)) / (sum(labels) / len(labels)), 3)


def _readable(terms: Sequence[Term]) -> list[dict[str, Any]]:
    rows = []
    for t in sorted(terms, key=lambda t: abs(t["weight"]), reverse=True):
        if t["kind"] == "categorical":
            per = "having this value vs not"
        elif t["kind"] == "bin":
            per = "being in this bin (log-odds added to the intercept)"
        else:
            per = f"+1 standard deviation ({t['scale']:.3g})"
        rows.append({"feature": term_name(t), "weight": round(t["weight"], 4),
                     "odds_ratio": round(math.exp(t["weight"]), 3), "per": per})
    return rows


def _fit(config: LearningConfig, examples: Sequence[Example]) -> TrainedModel:
    from sklearn.linear_model import LogisticRegression  # heavy: only loaded to train

    terms = _design(config, examples)
    regression = LogisticRegression(C=config.regularization_c, max_iter=2000)
    regression.fit([_row(terms, e.raw) for e in examples], [e.won for e in examples])
    for term, weight in zip(terms, regression.coef_[0], strict=True):
        term["weight"] = float(weight)
    return TrainedModel(intercept=float(regression.intercept_[0]), terms=terms)


def train(config: LearningConfig, examples: Sequence[Example]) -> TrainingResult:
    """Fit on a stratified training split and evaluate on the held-out leads, then refit on
    every outcome: the stored training record (the refit model, the held-out evaluation).

    Raises ValueError when the data cannot train a model (too few outcomes, one class only).
    """
    if len(examples) < config.min_outcomes:
        raise ValueError(f"{len(examples)} outcomes (closed deals and closed leads); training "
                         f"needs {config.min_outcomes}")
    if len({e.won for e in examples}) < 2:
        raise ValueError("training needs both won and not-won outcomes")
    fit_set, test_set = stratified_split(examples, config.holdout_share)
    if len({e.won for e in fit_set}) < 2:
        raise ValueError("the training split needs both won and not-won outcomes")
    evaluated = _fit(config, fit_set)
    served = _fit(config, examples)
    evaluation = evaluate(evaluated, fit_set, test_set)
    evaluation |= {
        "outcomes_by_kind": dict(sorted(Counter(e.outcome or ("won" if e.won else "lost")
                                                for e in examples).items())),
        "served_model": f"refit on all {len(examples)} outcomes after evaluation",
        "intercept": round(served["intercept"], 4),
        "coefficients": _readable(served["terms"]),
    }
    return TrainingResult(model=served, evaluation=evaluation)


def brier(labels: Sequence[bool], predicted: Sequence[float]) -> float | None:
    """Mean squared error of the probabilities (0 is perfect; lower is better)."""
    if not labels:
        return None
    return sum((p - y) ** 2 for y, p in zip(labels, predicted, strict=True)) / len(labels)


def reliability(labels: Sequence[bool], predicted: Sequence[float],
                bins: int = RELIABILITY_BINS) -> list[dict[str, Any]]:
    """Per bin of predicted probability (tenths): leads, mean prediction, observed win rate.
    A calibrated model's mean prediction matches the observed rate in every bin."""
    rows = []
    for k in range(bins):
        low, high = k / bins, (k + 1) / bins
        inside = [(y, p) for y, p in zip(labels, predicted, strict=True)
                  if low <= p < high or (k == bins - 1 and p == 1.0)]
        if inside:
            rows.append({"bin": f"{low:.1f}-{high:.1f}", "leads": len(inside),
                         "mean_predicted": round(sum(p for _, p in inside) / len(inside), 4),
                         "observed_win_rate": round(sum(y for y, _ in inside) / len(inside),
                                                    4)})
    return rows


def evaluate(trained: TrainedModel, fit_set: Sequence[Example],
             test_set: Sequence[Example]) -> dict[str, Any]:
    """On held-out leads: AUC of rules-only vs learned, Brier score (and that of predicting the
    training win rate for everyone), reliability bins, win rate by band, lift, weights."""
    labels = [e.won for e in test_set]
    learned = [predict(trained, e.raw) for e in test_set]
    rules = [float(e.rules_score) for e in test_set]
    base_rate = sum(e.won for e in fit_set) / len(fit_set) if fit_set else 0.0
    return {
        "training_deals": len(fit_set),
        "held_out_deals": len(test_set),
        "held_out_win_rate": round(sum(labels) / len(labels), 4) if labels else None,
        "auc_rules_only": _rounded(auc(labels, rules)),
        "auc_learned": _rounded(auc(labels, learned)),
        "brier_learned": _rounded(brier(labels, learned)),
        "brier_base_rate": _rounded(brier(labels, [base_rate] * len(labels))),
        "reliability": reliability(labels, learned),
        "win_rate_by_score_band": _bands(labels, rules, [0, 20, 40, 60, 80, 100], "g"),
        "win_rate_by_probability_band": _bands(labels, learned, [0, 0.2, 0.4, 0.6, 0.8], ".1f"),
        "lift_top_20pct_rules_only": top_lift(labels, rules),
        "lift_top_20pct_learned": top_lift(labels, learned),
        "intercept": round(trained["intercept"], 4),
        "coefficients": _readable(trained["terms"]),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
