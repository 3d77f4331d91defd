"""The queries of customers and accounts (handoff.customers): set-based, one per table."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.customers.domain import Account
from handoff.tables import OPEN_STATUS_SQL, accounts, lead_stages, leads
from leadloop.db import UnitOfWork


def stages_query(lead_ids: str) -> str:
    """The SELECT of the leads' stages and owners (the columns of LeadStage after lead_id);
    `lead_ids` names a uuid[] parameter. Routing reads it inside its one read statement."""
    return f"SELECT lead_id, stage, owner_rep_id FROM lead_stages WHERE lead_id = ANY({lead_ids})"


def accounts_query(domains: str) -> str:
    """The SELECT of the accounts of these domains and of the accounts their aliases point at
    (the columns of Account); `domains` names a text[] parameter."""
    return f"""SELECT domain, owner_rep_id, owner_set_by, alias_of, last_won_at FROM accounts
WHERE domain = ANY({domains})
   OR domain IN (SELECT alias_of FROM accounts WHERE domain = ANY({domains}))"""


_ACCOUNTS = accounts_query("$1::text[]")

# The latest announcement wins (an admin reset included); the owner stays until a new win.
_SAVE_STAGES = """
INSERT INTO lead_stages (lead_id, stage, changed_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) ORDER BY 1
ON CONFLICT (lead_id) DO UPDATE SET stage = EXCLUDED.stage, changed_at = EXCLUDED.changed_at
WHERE EXCLUDED.changed_at >= lead_stages.changed_at
"""

# For each lead that just won: the rep of its latest assignment that had one, and its email.
_WINNERS = """
SELECT DISTINCT ON (a.lead_id) a.lead_id, a.rep_id, l.email
FROM assignments a JOIN leads l ON l.lead_id = a.lead_id
WHERE a.lead_id = ANY($1::uuid[]) AND a.rep_id IS NOT NULL
ORDER BY a.lead_id, a.handed_off_at DESC
"""

_SET_OWNERS = """
UPDATE lead_stages s SET owner_rep_id = t.rep_id
FROM unnest($1::uuid[], $2::uuid[]) AS t(lead_id, rep_id) WHERE s.lead_id = t.lead_id
"""

# The account's owner follows its latest won deal, unless an admin named one.
_WON_ACCOUNTS = """
INSERT INTO accounts (domain, owner_rep_id, last_won_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[]) ORDER BY 1
ON CONFLICT (domain) DO UPDATE SET
    owner_rep_id = CASE WHEN accounts.owner_set_by IS NULL
                        AND EXCLUDED.last_won_at >= coalesce(accounts.last_won_at, '-infinity')
                        THEN EXCLUDED.owner_rep_id ELSE accounts.owner_rep_id END,
    last_won_at = GREATEST(accounts.last_won_at, EXCLUDED.last_won_at), updated_at = now()
"""

# A won deal ends the work on the lead's open assignment: the rep converted it (a queued one,
# without a rep, leaves the queue). Its new interest later makes a new assignment.
_CLOSE_WON = f"""
UPDATE assignments SET
    status = CASE WHEN rep_id IS NULL THEN 'reassigned' ELSE 'converted' END,
    converted_at = CASE WHEN rep_id IS NULL THEN NULL ELSE $2::timestamptz END,
    updated_at = now()
WHERE lead_id = ANY($1::uuid[]) AND {OPEN_STATUS_SQL}
"""

# Leads with a copy here (they were handed off once): what a new hand-off needs.
_COPIES = "SELECT lead_id, email, context::text AS context FROM leads WHERE lead_id = ANY($1)"


def _account_of(row: Any) -> Account:
    return Account(row["domain"], row["owner_rep_id"], row["owner_set_by"], row["alias_of"],
                   row["last_won_at"])


async def accounts_of(uow: UnitOfWork, domains: Iterable[str]) -> dict[str, Account]:
    """The accounts of these domains, and the accounts the aliases among them point at (one
    statement)."""
    wanted = sorted(set(domains))
    if not wanted:
        return {}
    rows = await (await uow.driver()).fetch(_ACCOUNTS, wanted)
    return {row["domain"]: _account_of(row) for row in rows}


async def save_stages(uow: UnitOfWork, changes: Mapping[UUID, tuple[str, datetime]]) -> None:
    """Store the leads' latest announced stages (one statement)."""
    if changes:
        ids = sorted(changes)
        await (await uow.driver()).execute(_SAVE_STAGES, ids, [changes[i][0] for i in ids],
                                           [changes[i][1] for i in ids])


async def winners(uow: UnitOfWork, lead_ids: Sequence[UUID]) -> list[tuple[UUID, UUID, str]]:
    """(lead, rep of its latest assignment, email) of leads handoff handed to a rep."""
    rows = await (await uow.driver()).fetch(_WINNERS, list(lead_ids))
    return [(row["lead_id"], row["rep_id"], row["email"]) for row in rows]


async def set_owners(uow: UnitOfWork, owners: Mapping[UUID, UUID]) -> None:
    """The customers' owners (one statement)."""
    if owners:
        ids = sorted(owners)
        await (await uow.driver()).execute(_SET_OWNERS, ids, [owners[i] for i in ids])


async def record_won_accounts(uow: UnitOfWork, won: Mapping[str, tuple[UUID, datetime]]
                              ) -> None:
    """Accounts whose contact won a deal: owned by its rep unless an admin named one."""
    if won:
        domains = sorted(won)
        await (await uow.driver()).execute(_WON_ACCOUNTS, domains,
                                           [won[d][0] for d in domains],
                                           [won[d][1] for d in domains])


async def close_won_assignments(uow: UnitOfWork, lead_ids: Sequence[UUID],
                                now: datetime) -> None:
    """Close the open assignments of leads that won a deal (one statement)."""
    if lead_ids:
        await (await uow.driver()).execute(_CLOSE_WON, sorted(lead_ids), now)


@dataclass(frozen=True, slots=True)
class LeadCopy:
    """Handoff's copy of a lead it has handed off: its email and its lead.qualified data."""

    email: str
    context: dict[str, Any]


async def lead_copies(uow: UnitOfWork, lead_ids: Sequence[UUID]) -> dict[UUID, LeadCopy]:
    """Handoff's copies of those leads it has handed off."""
    rows = await (await uow.driver()).fetch(_COPIES, list(lead_ids))
    return {row["lead_id"]: LeadCopy(row["email"], orjson.loads(row["context"])) for row in rows}


# --- the account API -------------------------------------------------------------------------


async def get_account(conn: AsyncConnection, domain: str) -> Account | None:
    """One account by domain."""
    row = (await conn.execute(select(accounts).where(accounts.c.domain == domain))
           ).one_or_none()
    return None if row is None else _account_of(row._mapping)


async def put_account(conn: AsyncConnection, domain: str, owner_rep_id: UUID | None,
                      alias_of: str | None, set_by: str) -> None:
    """An admin's account: its owner (kept against later wins) or the account it belongs to."""
    values = {"owner_rep_id": owner_rep_id, "alias_of": alias_of,
              "owner_set_by": set_by if owner_rep_id is not None else None,
              "updated_at": func.now()}
    await conn.execute(pg_insert(accounts).values(domain=domain, **values)
                       .on_conflict_do_update(index_elements=[accounts.c.domain], set_=values))


@dataclass(frozen=True, slots=True)
class Contact:
    """A lead handoff holds at an account's domain, with its stage and owner."""

    lead_id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    stage: str | None
    owner_rep_id: UUID | None


async def account_contacts(conn: AsyncConnection, domains: Sequence[str]) -> list[Contact]:
    """The leads handoff holds whose email is at these domains, with their stage and owner."""
    domain = func.lower(func.split_part(leads.c.email, "@", 2))
    query = (select(leads.c.lead_id, leads.c.email, leads.c.first_name, leads.c.last_name,
                    lead_stages.c.stage, lead_stages.c.owner_rep_id)
             .select_from(leads.outerjoin(lead_stages,
                                          lead_stages.c.lead_id == leads.c.lead_id))
             .where(domain.in_(list(domains))).order_by(leads.c.email).limit(1000))
    return [Contact(**row._mapping) for row in await conn.execute(query)]
