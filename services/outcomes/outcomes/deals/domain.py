"""Deals' pure rules: what a sales tool's report does to a stored deal. No I/O."""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from leadloop.events.models import DealClosed, DealOpened


class DealStatus(StrEnum):
    """Where a deal is in the sales tool."""

    open = "open"
    won = "won"
    lost = "lost"

    @property
    def is_closed(self) -> bool:
        """Won and lost are final."""
        return self is not DealStatus.open


# How far in the future a closing time may lie: clocks of sales tools drift.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def lost_reason_problem(status: DealStatus, lost_reason: str | None) -> str | None:
    """Why `lost_reason` does not fit `status`, or None when it does."""
    if lost_reason is not None and status is not DealStatus.lost:
        return f"a lost_reason is only for lost deals, not {status.value} ones"
    return None


def closed_at_problem(status: DealStatus, closed_at: datetime | None,
                      now: datetime) -> str | None:
    """Why `closed_at` does not fit `status` (or is in the future), or None when it does."""
    if closed_at is None:
        return None
    if not status.is_closed:
        return "closed_at is only for won or lost deals"
    if closed_at > now + MAX_CLOCK_SKEW:
        return "closed_at is in the future"
    return None


@dataclass(frozen=True, slots=True)
class DealReport:
    """A deal as the sales tool reports it; closed_at None means 'not given'."""

    external_id: str
    lead_id: UUID
    status: DealStatus
    amount_minor: int
    currency: str
    lost_reason: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal as outcomes stores it."""

    id: UUID
    external_id: str
    lead_id: UUID
    status: DealStatus
    amount_minor: int
    currency: str
    lost_reason: str | None
    opened_at: datetime | None
    closed_at: datetime | None


class DealChange(StrEnum):
    """What a repeated report does to a stored deal."""

    unchanged = "unchanged"  # the same report again: answer the deal, emit nothing
    updated = "updated"  # an open deal's amount changed: store it, emit nothing
    closed = "closed"  # open -> won or lost: store it, emit deal.closed
    conflict = "conflict"  # a change the deal cannot make: refuse it


@dataclass(frozen=True, slots=True)
class DealDecision:
    """What to do with a report of a known deal, and the deal after it."""

    change: DealChange
    deal: Deal
    reason: str | None = None


def new_deal(report: DealReport, now: datetime) -> Deal:
    """The deal a first report creates."""
    closed = report.status.is_closed
    return Deal(
        id=uuid.uuid4(), external_id=report.external_id, lead_id=report.lead_id,
        status=report.status, amount_minor=report.amount_minor, currency=report.currency,
        lost_reason=report.lost_reason, opened_at=None if closed else now,
        closed_at=(report.closed_at or now) if closed else None,
    )


def decide_deal_change(current: Deal, report: DealReport, now: datetime) -> DealDecision:
    """How a known deal changes when its sales tool reports it again.

    open -> won/lost closes it; an open deal's amount may change; a closed deal is final, and a
    deal never moves to another lead.
    """
    if report.lead_id != current.lead_id:
        return DealDecision(DealChange.conflict, current,
                            "this deal is recorded for another lead")
    same_money = (report.amount_minor, report.currency) == (current.amount_minor,
                                                            current.currency)
    if current.status.is_closed:
        same = (report.status is current.status and same_money
                and report.lost_reason == current.lost_reason
                and report.closed_at in (None, current.closed_at))
        if same:
            return DealDecision(DealChange.unchanged, current)
        return DealDecision(DealChange.conflict, current,
                            f"the deal is already {current.status.value}; a closed deal is final")
    if report.status is DealStatus.open:
        if same_money:
            return DealDecision(DealChange.unchanged, current)
        return DealDecision(DealChange.updated, replace(
            current, amount_minor=report.amount_minor, currency=report.currency))
    return DealDecision(DealChange.closed, replace(
        current, status=report.status, amount_minor=report.amount_minor,
        currency=report.currency, lost_reason=report.lost_reason,
        closed_at=report.closed_at or now))


def deal_event(deal: Deal) -> DealOpened | DealClosed:
    """The event that announces a deal's current status."""
    if deal.status is DealStatus.open:
        assert deal.opened_at is not None  # every open deal has one: new_deal sets it
        return DealOpened(lead_id=deal.lead_id, deal_id=deal.id, external_id=deal.external_id,
                          amount_minor=deal.amount_minor, currency=deal.currency,
                          opened_at=deal.opened_at)
    assert deal.closed_at is not None  # every closed deal has one
    return DealClosed(lead_id=deal.lead_id, deal_id=deal.id, external_id=deal.external_id,
                      outcome="won" if deal.status is DealStatus.won else "lost",
                      amount_minor=deal.amount_minor, currency=deal.currency,
                      lost_reason=deal.lost_reason, closed_at=deal.closed_at)
