"""Multi-touch attribution over the raw touch log, model chosen at query time. Pure, no I/O.

A lead's touches are the form submission that created it and every later activity that carries
a source (UTM fields or a campaign). Only touches up to the lead's conversion (its opportunity,
else its win) are credited. Shares are exact fractions; money is rounded once, at the end.

Models (touches ordered by time, n of them):
- first_touch: all credit to the first touch.
- last_touch: all credit to the last touch before conversion.
- linear: 1/n each.
- u_shaped: 40% first, 40% last, 20% split over the touches between (1 touch: 100%,
  2 touches: 50/50).
- w_shaped: 30% each to three milestones: the first touch, the last touch at or before the lead
  became an MQL (the first touch when it never did), and the last touch before conversion; 10%
  split over the other touches. Milestones that fall on the same touch add up; when no other
  touch is left, the milestones share everything in proportion to their weights.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from uuid import UUID

from outcomes.reports.domain import NONE_KEY


class Model(StrEnum):
    """An attribution model."""

    first_touch = "first_touch"
    last_touch = "last_touch"
    linear = "linear"
    u_shaped = "u_shaped"
    w_shaped = "w_shaped"


class AttributeBy(StrEnum):
    """What attribution credits: campaigns or sources."""

    campaign = "campaign"
    source = "source"


@dataclass(frozen=True, slots=True)
class Touch:
    """One marketing touch of a lead, from the raw touch log."""

    lead_id: UUID
    touch_id: str
    occurred_at: datetime
    campaign: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """A lead's won revenue (one currency) and when it converted."""

    lead_id: UUID
    won_deals: int
    revenue_minor: int
    converted_at: datetime
    mql_at: datetime | None = None


def touch_weights(model: Model, count: int, mql_index: int | None = None) -> list[Fraction]:
    """Each touch's share of the credit under `model`; the shares sum to 1."""
    if count <= 0:
        return []
    if count == 1:
        return [Fraction(1)]
    weights = [Fraction(0)] * count
    match model:
        case Model.first_touch:
            weights[0] = Fraction(1)
        case Model.last_touch:
            weights[-1] = Fraction(1)
        case Model.linear:
            weights = [Fraction(1, count)] * count
        case Model.u_shaped:
            middle = count - 2
            weights[0] = weights[-1] = Fraction(2, 5) if middle else Fraction(1, 2)
            for i in range(1, count - 1):
                weights[i] = Fraction(1, 5 * middle)
        case Model.w_shaped:
            milestones = [0, mql_index if mql_index is not None else 0, count - 1]
            for i in milestones:
                weights[i] += Fraction(3, 10)
            rest = [i for i in range(count) if i not in milestones]
            for i in rest:
                weights[i] = Fraction(1, 10 * len(rest))
            total = sum(weights)
            weights = [w / total for w in weights]
    return weights


def _mql_index(touches: Sequence[Touch], mql_at: datetime | None) -> int | None:
    if mql_at is None:
        return None
    before = [i for i, t in enumerate(touches) if t.occurred_at <= mql_at]
    return before[-1] if before else None


def _key(touch: Touch, by: AttributeBy) -> str:
    return (touch.campaign if by is AttributeBy.campaign else touch.source) or NONE_KEY


@dataclass(frozen=True, slots=True)
class AttributionRow:
    """What one campaign or source earned under a model."""

    key: str
    won_deals: float
    revenue_minor: int


@dataclass(frozen=True, slots=True)
class AttributionReport:
    """Credit per campaign or source under one model, largest revenue first."""

    model: Model
    by: AttributeBy
    total_won_deals: int
    total_revenue_minor: int
    rows: list[AttributionRow]


def attribute(touches: Iterable[Touch], conversions: Iterable[Conversion], model: Model,
              by: AttributeBy) -> AttributionReport:
    """Share each converted lead's wins and revenue among its touches under `model`."""
    by_lead: dict[UUID, list[Touch]] = defaultdict(list)
    for touch in touches:
        by_lead[touch.lead_id].append(touch)
    deals: dict[str, Fraction] = defaultdict(Fraction)
    revenue: dict[str, Fraction] = defaultdict(Fraction)
    total_deals = total_revenue = 0
    for conversion in conversions:
        total_deals += conversion.won_deals
        total_revenue += conversion.revenue_minor
        credited = sorted((t for t in by_lead.get(conversion.lead_id, ())
                           if t.occurred_at <= conversion.converted_at),
                          key=lambda t: (t.occurred_at, t.touch_id))
        if not credited:  # no known touch: the credit stays visible, not silently dropped
            deals[NONE_KEY] += conversion.won_deals
            revenue[NONE_KEY] += conversion.revenue_minor
            continue
        weights = touch_weights(model, len(credited), _mql_index(credited, conversion.mql_at))
        for touch, weight in zip(credited, weights, strict=True):
            if not weight:
                continue  # a campaign that earned nothing under this model is not listed
            deals[_key(touch, by)] += weight * conversion.won_deals
            revenue[_key(touch, by)] += weight * conversion.revenue_minor
    rows = [AttributionRow(key, round(float(deals[key]), 4), round(revenue[key]))
            for key in deals]
    rows.sort(key=lambda row: (-row.revenue_minor, -row.won_deals, row.key))
    return AttributionReport(model, by, total_deals, total_revenue, rows)
