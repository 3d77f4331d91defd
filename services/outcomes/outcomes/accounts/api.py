"""GET /v1/reports/accounts and /v1/reports/accounts/{domain} (scope reports:read): each
company's leads rolled up (outcomes.accounts.domain), largest revenue first, in the shared cursor
envelope."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import Field

from leadloop.accounts import is_free_mail
from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.lifecycle import LifecycleStage
from leadloop.pagination import Page, cursor_query, decode_cursor, encode_cursor, limit_query
from leadloop.problems import invalid_query
from outcomes.accounts import service
from outcomes.accounts.domain import (
    AccountRollup,
    AccountRow,
    AccountSort,
    ContactFilter,
    rows_after,
    sort_rows,
    sort_value,
)
from outcomes.reports.api import lifecycle_filter
from outcomes.reports.repeat import MIN_CUSTOMERS
from outcomes.reports.window import Window

router = APIRouter(prefix="/v1", tags=["reports"])
_reports = [Depends(require_scope("reports:read"))]
DOMAIN_PATTERN = r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


class AccountsPage(Page[AccountRow]):
    """A page of accounts, and what their figures are in and compared with."""

    currency: str | None = Field(description="the currency of every revenue figure")
    min_sample: int = Field(description="accounts with fewer customers are flagged "
                            "small_sample")
    repeat_purchase_rate: float | None = Field(
        description="the repeat-purchase rate of all the accounts' customers: each account's "
        "signal compares with it")


class RollupQuery:
    """FastAPI dependency: the window and filters both account routes take."""

    def __init__(
        self,
        window: Window = Depends(),
        currency: str | None = Query(default=None, pattern="^[A-Z]{3}$",
                                     description="revenue in this currency; default: the one "
                                     "with the most won revenue"),
        min_sample: int = Query(default=MIN_CUSTOMERS, ge=1, le=100_000,
                                description="accounts with fewer customers are flagged "
                                "small_sample"),
        lifecycle_stage: LifecycleStage | None = Depends(lifecycle_filter),
        campaign: str | None = Query(default=None, min_length=1, max_length=200,
                                     description="only contacts from this campaign"),
        source: str | None = Query(default=None, min_length=1, max_length=200,
                                   description="only contacts from this source (UTM source, "
                                   "else channel)"),
        country: str | None = Query(default=None, pattern="^[A-Z]{2}$",
                                    description="only contacts in this country (ISO 3166-1 "
                                    "alpha-2)"),
    ) -> None:
        self.window = window
        self.currency = currency
        self.min_sample = min_sample
        self.lifecycle_stage = lifecycle_stage
        self.keep = ContactFilter(campaign=campaign, source=source, country=country)

    async def rollup(self, uow: UnitOfWork) -> AccountRollup:
        """The rollup these parameters ask for."""
        async with uow:
            return await service.accounts(uow, self.window.start, self.window.end,
                                          self.currency, self.min_sample,
                                          self.lifecycle_stage, self.keep)


def _after(cursor: str | None, sort: AccountSort) -> tuple[int | str, str] | None:
    if cursor is None:
        return None
    value, domain = decode_cursor(cursor, 2)
    wanted = str if sort is AccountSort.domain else int
    if not isinstance(domain, str) or type(value) is not wanted:
        raise invalid_query("cursor", "not a cursor this list returned with this sort")
    return value, domain


@router.get("/reports/accounts", response_model=AccountsPage, dependencies=_reports)
async def list_account_rollups(
    query: RollupQuery = Depends(),
    sort: AccountSort = Query(default=AccountSort.revenue,
                              description="largest first (domain breaks ties), or by domain"),
    limit: int = limit_query(),
    cursor: str | None = cursor_query(),
    uow: UnitOfWork = Depends(unit_of_work),
) -> AccountsPage:
    """Companies: the leads of each company domain (free-mail addresses belong to none; the
    account handoff named wins, so admin aliases apply) created in the window, rolled up: its
    owner (the rep of the latest won deal, else of the latest hand-off), contacts by lifecycle
    stage, deals opened / won / lost, customers, revenue split into first and repeat purchases,
    and the repeat-purchase rate with its 95% Wilson interval, small-sample flag and comparison
    with all accounts' customers. Filters narrow the contacts counted."""
    after = _after(cursor, sort)
    rollup = await query.rollup(uow)
    rows = rows_after(sort_rows(rollup.rows, sort), sort, after)
    kept = rows[:limit]
    next_cursor = encode_cursor([sort_value(kept[-1], sort), kept[-1].domain]) \
        if len(rows) > limit else None
    return AccountsPage(items=kept, next_cursor=next_cursor, currency=rollup.currency,
                        min_sample=rollup.min_sample,
                        repeat_purchase_rate=rollup.repeat_purchase_rate)


@router.get("/reports/accounts/{domain}", response_model=AccountRow, dependencies=_reports,
            responses={404: {"description": "no contact of this account in the window (or a "
                             "free-mail domain, which is no account)"}})
async def get_account_rollup(
    domain: Annotated[str, Path(max_length=253, pattern=DOMAIN_PATTERN,
                                description="the account's company domain, e.g. acme.com")],
    query: RollupQuery = Depends(),
    uow: UnitOfWork = Depends(unit_of_work),
) -> AccountRow:
    """One account's rollup, as in the list (same window and filters)."""
    domain = domain.lower()
    if is_free_mail(domain):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"{domain} is a free-mail domain: its addresses belong to no account")
    rollup = await query.rollup(uow)
    row = next((r for r in rollup.rows if r.domain == domain), None)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"no contact of account {domain} matches (unknown, or filtered out)")
    return row
