"""Accounts: the leads of one company rolled up, with their owner, deals and customers. Pure.

A lead belongs to the account of its company domain (leadloop.accounts: free-mail addresses
belong to none), or to the account handoff named when it handed the lead off (handoff applies
the aliases admins set there). Per account:

- its owner: the rep of the contact whose deal was won last, else the rep of the latest
  hand-off among its contacts;
- contacts, and contacts per lifecycle stage;
- deals opened, won and lost (several per contact and per account: a repeat purchase is a
  new deal);
- customers (contacts with a won deal) and how many bought again, with the repeat-purchase
  rate, its 95% Wilson interval, the small-sample flag and the comparison with all accounts'
  customers: the repeat-customer report's figures (outcomes.reports.repeat), per account;
- revenue in one currency, split into each customer's first purchase and its repeat purchases.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from outcomes.reports.markets import Signal
from outcomes.reports.repeat import (
    MIN_CUSTOMERS,
    WonDeal,
    main_currency,
    purchases_by_customer,
    repeat_row,
)


@dataclass(frozen=True, slots=True)
class Contact:
    """A lead of an account, as the rollup needs it (no one's name or address)."""

    lead_id: UUID
    account: str
    stage: str | None = None  # its lifecycle stage (leadloop.lifecycle)
    rep_id: UUID | None = None  # the rep of its latest hand-off, and when
    rep_name: str | None = None
    rep_at: datetime | None = None
    campaign: str | None = None  # as the other reports name them (outcomes.reports.domain)
    source: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class ContactFilter:
    """Only contacts from this campaign, source or country (None: any)."""

    campaign: str | None = None
    source: str | None = None
    country: str | None = None

    def keeps(self, contact: Contact) -> bool:
        """Whether `contact` passes every filter given."""
        return all(wanted is None or wanted == value for wanted, value in (
            (self.campaign, contact.campaign), (self.source, contact.source),
            (self.country, contact.country)))


class AccountSort(StrEnum):
    """How the account list is ordered: largest first, the domain breaking ties; or by domain."""

    revenue = "revenue"
    contacts = "contacts"
    customers = "customers"
    deals_won = "deals_won"
    domain = "domain"


class OwnerBasis(StrEnum):
    """Why a rep owns the account."""

    won_latest_deal = "won_latest_deal"
    latest_hand_off = "latest_hand_off"


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One account's rollup."""

    domain: str
    owner_rep_id: UUID | None
    owner_rep_name: str | None
    owner_basis: OwnerBasis | None
    contacts: int
    leads_by_stage: dict[str, int]
    deals_opened: int
    deals_won: int
    deals_lost: int
    customers: int
    repeat_customers: int
    small_sample: bool
    repeat_purchase_rate: float | None
    ci_low: float | None
    ci_high: float | None
    signal: Signal
    purchases: int
    repeat_purchases: int
    revenue_minor: int
    first_revenue_minor: int
    repeat_revenue_minor: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountRollup:
    """Every account of the chosen contacts, and the repeat-purchase rate of all their
    customers (what each account's rate is compared with)."""

    currency: str | None
    min_sample: int
    repeat_purchase_rate: float | None
    rows: list[AccountRow]


def _owner(contacts: Sequence[Contact], won: Sequence[WonDeal]
           ) -> tuple[UUID | None, str | None, OwnerBasis | None]:
    by_lead = {c.lead_id: c for c in contacts}
    for deal in sorted(won, key=lambda d: (d.closed_at, str(d.deal_id)), reverse=True):
        winner = by_lead[deal.lead_id]
        if winner.rep_id is not None:
            return winner.rep_id, winner.rep_name, OwnerBasis.won_latest_deal
    handed = [c for c in contacts if c.rep_id is not None and c.rep_at is not None]
    if not handed:
        return None, None, None
    latest = max(handed, key=lambda c: (c.rep_at, str(c.lead_id)))
    return latest.rep_id, latest.rep_name, OwnerBasis.latest_hand_off


def _account_row(domain: str, contacts: Sequence[Contact], won: Sequence[WonDeal],
                 lost: int, opened: int, currency: str | None, average: float | None,
                 min_sample: int) -> AccountRow:
    purchases = purchases_by_customer(won, {c.lead_id for c in contacts})
    figures = repeat_row(domain, purchases, currency, average, min_sample)
    first = sum(bought[0].amount_minor for bought in purchases.values()
                if bought[0].currency == currency)
    again = sum(d.amount_minor for bought in purchases.values() for d in bought[1:]
                if d.currency == currency)
    closed = [d.closed_at for d in won]
    owner_id, owner_name, basis = _owner(contacts, won)
    return AccountRow(
        domain=domain, owner_rep_id=owner_id, owner_rep_name=owner_name, owner_basis=basis,
        contacts=len(contacts),
        leads_by_stage=dict(sorted(Counter(c.stage for c in contacts if c.stage).items())),
        deals_opened=opened, deals_won=len(won), deals_lost=lost,
        customers=figures.customers, repeat_customers=figures.repeat_customers,
        small_sample=figures.small_sample, repeat_purchase_rate=figures.repeat_purchase_rate,
        ci_low=figures.ci_low, ci_high=figures.ci_high, signal=figures.signal,
        purchases=figures.purchases, repeat_purchases=figures.repeat_purchases,
        revenue_minor=first + again, first_revenue_minor=first, repeat_revenue_minor=again,
        first_purchase_at=min(closed, default=None), last_purchase_at=max(closed, default=None))


def account_rollup(contacts: Iterable[Contact], won: Iterable[WonDeal],
                   lost: Mapping[UUID, int], opened: Mapping[UUID, int],
                   currency: str | None = None, min_sample: int = MIN_CUSTOMERS,
                   keep: ContactFilter = ContactFilter()) -> AccountRollup:
    """Roll the contacts `keep` keeps up into their accounts: `won` are their won deals, `lost`
    and `opened` how many deals each lead lost and had opened (any status). Revenue in
    `currency`, by default the one with the most won revenue. Rows in no particular order
    (`sort_rows` orders them)."""
    kept = [c for c in contacts if keep.keeps(c)]
    account_of = {c.lead_id: c.account for c in kept}
    members: dict[str, list[Contact]] = defaultdict(list)
    for contact in kept:
        members[contact.account].append(contact)
    deals: dict[str, list[WonDeal]] = defaultdict(list)
    for deal in won:
        if deal.lead_id in account_of:
            deals[account_of[deal.lead_id]].append(deal)
    chosen = currency or main_currency(d for ds in deals.values() for d in ds)
    everyone = repeat_row("all", purchases_by_customer(
        (d for ds in deals.values() for d in ds), account_of), chosen, None, min_sample)
    average = everyone.repeat_purchase_rate
    rows = [_account_row(domain, people, deals[domain],
                         sum(lost.get(c.lead_id, 0) for c in people),
                         sum(opened.get(c.lead_id, 0) for c in people),
                         chosen, average, min_sample)
            for domain, people in members.items()]
    return AccountRollup(chosen, min_sample, average, rows)


# --- order and pages -------------------------------------------------------------------------


def sort_value(row: AccountRow, sort: AccountSort) -> int | str:
    """The value `sort` orders by (the domain itself when sorting by domain)."""
    match sort:
        case AccountSort.revenue:
            return row.revenue_minor
        case AccountSort.contacts:
            return row.contacts
        case AccountSort.customers:
            return row.customers
        case AccountSort.deals_won:
            return row.deals_won
    return row.domain


def _order(value: Any, domain: str, sort: AccountSort) -> tuple[Any, str]:
    return (domain, domain) if sort is AccountSort.domain else (-value, domain)


def sort_rows(rows: Iterable[AccountRow], sort: AccountSort) -> list[AccountRow]:
    """The rows in list order: by `sort` descending and domain ascending, or by domain."""
    return sorted(rows, key=lambda r: _order(sort_value(r, sort), r.domain, sort))


def rows_after(rows: Sequence[AccountRow], sort: AccountSort,
               after: tuple[int | str, str] | None) -> list[AccountRow]:
    """The rows (in list order) that come after the cursor's (sort value, domain)."""
    if after is None:
        return list(rows)
    bound = _order(after[0], after[1], sort)
    return [r for r in rows if _order(sort_value(r, sort), r.domain, sort) > bound]
