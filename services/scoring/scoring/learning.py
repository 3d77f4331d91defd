"""Learning from closed deals: features, a logistic regression, its evaluation. No I/O.

The trained model is stored as plain numbers (an intercept and one weight per feature or
category, with the scaling used), so a prediction is a readable sum computed without
scikit-learn, and every weight can be shown to the people who argue about lead quality.
"""

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from leadloop.events.models import LeadProfile
from scoring.domain import Activity
from scoring.learning_config import (
    ActivityCountFeature,
    CategoricalFeature,
    LearningConfig,
    NumericFeature,
    RecencyFeature,
    SecondsOnSiteFeature,
)
from scoring.rules import profile_value

MISSING = "(missing)"
OTHER = "(other)"
Raw = str | float | None


@dataclass(frozen=True, slots=True)
class Example:
    """One closed deal: what was known about its lead at closing, and whether it was won."""

    lead_id: UUID
    raw: dict[str, Raw]
    won: bool
    rules_score: int


def raw_features(config: LearningConfig, profile: LeadProfile, activities: Sequence[Activity],
                 at: datetime, window_days: int) -> dict[str, Raw]:
    """The configured features of a lead at `at`, from activities within the window before it."""
    start = at - timedelta(days=window_days)
    seen = [a for a in activities if start < a.occurred_at <= at]
    values: dict[str, Raw] = {}
    for feature in config.features:
        if isinstance(feature, CategoricalFeature):
            value = profile_value(profile, feature.field)
            values[feature.name] = MISSING if value is None or value == "" else \
                str(value).strip().casefold()
        elif isinstance(feature, NumericFeature):
            value = profile_value(profile, feature.field)
            number = value if isinstance(value, int | float) and not isinstance(value, bool) \
                else None
            values[feature.name] = None if number is None else float(number)
        elif isinstance(feature, ActivityCountFeature):
            values[feature.name] = float(sum(
                1 for a in seen if feature.activity_kind in (None, a.kind)))
        elif isinstance(feature, RecencyFeature):
            latest = max((a.occurred_at for a in seen), default=None)
            values[feature.name] = float(window_days) if latest is None else \
                max((at - latest).total_seconds(), 0.0) / 86_400
        elif isinstance(feature, SecondsOnSiteFeature):
            values[feature.name] = float(sum(a.seconds or 0.0 for a in seen))
    return values


def is_held_out(lead_id: UUID, share: float) -> bool:
    """Whether a lead belongs to the evaluation split: a stable hash, so reruns agree."""
    digest = hashlib.sha256(lead_id.bytes).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def _design(config: LearningConfig, examples: Sequence[Example]) -> list[dict[str, Any]]:
    """The model's terms: one per numeric feature, one per kept category of each categorical."""
    terms: list[dict[str, Any]] = []
    for feature in config.features:
        column = [e.raw.get(feature.name) for e in examples]
        if isinstance(feature, CategoricalFeature):
            counts = Counter(str(v) for v in column)
            kept = sorted(level for level, _ in counts.most_common(feature.max_levels))
            terms.extend({"feature": feature.name, "kind": "categorical", "level": level}
                         for level in kept)
        else:
            numbers = [float(v) for v in column if isinstance(v, float | int)]
            mean = sum(numbers) / len(numbers) if numbers else 0.0
            variance = sum((n - mean) ** 2 for n in numbers) / len(numbers) if numbers else 0.0
            terms.append({"feature": feature.name, "kind": "numeric", "mean": mean,
                          "scale": math.sqrt(variance) or 1.0})
    return terms


def _row(terms: Sequence[dict[str, Any]], raw: dict[str, Raw]) -> list[float]:
    row = []
    for term in terms:
        value = raw.get(term["feature"])
        if term["kind"] == "categorical":
            row.append(1.0 if str(value) == term["level"] else 0.0)
        else:
            number = term["mean"] if value is None else float(value)
            row.append((number - term["mean"]) / term["scale"])
    return row


def predict(trained: dict[str, Any], raw: dict[str, Raw]) -> float:
    """The win probability a stored model gives a lead's raw features."""
    terms = trained["terms"]
    logit = trained["intercept"] + sum(
        t["weight"] * x for t, x in zip(terms, _row(terms, raw), strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


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


def _readable(terms: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for t in sorted(terms, key=lambda t: abs(t["weight"]), reverse=True):
        if t["kind"] == "categorical":
            name, per = f"{t['feature']} = {t['level']}", "having this value vs not"
        else:
            name, per = t["feature"], f"+1 standard deviation ({t['scale']:.3g})"
        rows.append({"feature": name, "weight": round(t["weight"], 4),
                     "odds_ratio": round(math.exp(t["weight"]), 3), "per": per})
    return rows


def train(config: LearningConfig, examples: Sequence[Example]) -> dict[str, Any]:
    """Fit on the training split, evaluate on the held-out one; the stored training record.

    Raises ValueError when the data cannot train a model (too few deals, one outcome only).
    """
    from sklearn.linear_model import LogisticRegression  # heavy: only loaded to train

    if len(examples) < config.min_outcomes:
        raise ValueError(f"{len(examples)} closed deals; training needs {config.min_outcomes}")
    fit_set = [e for e in examples if not is_held_out(e.lead_id, config.holdout_share)]
    test_set = [e for e in examples if is_held_out(e.lead_id, config.holdout_share)]
    if len({e.won for e in fit_set}) < 2:
        raise ValueError("the training split needs both won and lost deals")
    terms = _design(config, fit_set)
    regression = LogisticRegression(C=config.regularization_c, max_iter=1000)
    regression.fit([_row(terms, e.raw) for e in fit_set], [e.won for e in fit_set])
    for term, weight in zip(terms, regression.coef_[0], strict=True):
        term["weight"] = float(weight)
    trained = {"intercept": float(regression.intercept_[0]), "terms": terms}
    return {"model": trained,
            "evaluation": evaluate(trained, fit_set, test_set)}


def evaluate(trained: dict[str, Any], fit_set: Sequence[Example],
             test_set: Sequence[Example]) -> dict[str, Any]:
    """AUC of rules-only vs learned on held-out leads, calibration by band, lift, weights."""
    labels = [e.won for e in test_set]
    learned = [predict(trained, e.raw) for e in test_set]
    rules = [float(e.rules_score) for e in test_set]
    return {
        "training_deals": len(fit_set),
        "held_out_deals": len(test_set),
        "held_out_win_rate": round(sum(labels) / len(labels), 4) if labels else None,
        "auc_rules_only": _rounded(auc(labels, rules)),
        "auc_learned": _rounded(auc(labels, learned)),
        "win_rate_by_score_band": _bands(labels, rules, [0, 20, 40, 60, 80, 100], "g"),
        "win_rate_by_probability_band": _bands(labels, learned, [0, 0.2, 0.4, 0.6, 0.8], ".1f"),
        "lift_top_20pct_rules_only": top_lift(labels, rules),
        "lift_top_20pct_learned": top_lift(labels, learned),
        "intercept": round(trained["intercept"], 4),
        "coefficients": _readable(trained["terms"]),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
