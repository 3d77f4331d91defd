"""Accounts' use case: the rollup of a window's contacts into their accounts."""

from datetime import datetime

from leadloop.db import UnitOfWork
from leadloop.lifecycle import LifecycleStage
from outcomes.accounts import repository
from outcomes.accounts.domain import AccountRollup, ContactFilter, account_rollup
from outcomes.reports.repeat import MIN_CUSTOMERS


async def accounts(uow: UnitOfWork, created_from: datetime | None, created_to: datetime | None,
                   currency: str | None, min_sample: int = MIN_CUSTOMERS,
                   lifecycle_stage: LifecycleStage | None = None,
                   keep: ContactFilter = ContactFilter()) -> AccountRollup:
    """Every account's owner, contacts by stage, deals, customers, first/repeat revenue and
    repeat-purchase rate, over its contacts created in the window (at `lifecycle_stage` and
    passing `keep`, when given)."""
    conn = uow.connection
    contacts = await repository.account_contacts(conn, created_from, created_to,
                                                     lifecycle_stage)
    won, lost, opened = await repository.account_deals(conn, created_from, created_to)
    return account_rollup(contacts, won, lost, opened, currency, min_sample, keep)
