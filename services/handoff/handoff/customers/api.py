"""Accounts (companies by email domain, handoff.customers): read one, and an admin's overrides
of its owner or of which account a domain belongs to (scope "admin")."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.customers import repository as customer_repository
from handoff.customers.repository import Contact
from handoff.reps import repository as rep_repository
from leadloop.accounts import is_free_mail
from leadloop.app import unit_of_work
from leadloop.auth import Principal, require_scope
from leadloop.db import UnitOfWork

router = APIRouter(prefix="/v1", tags=["accounts"])
DOMAIN_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
Domain = Annotated[str, Path(pattern=DOMAIN_PATTERN, max_length=253,
                             description="the company's email domain, lower case")]


def _not_free_mail(domain: str, location: tuple[str, ...]) -> None:
    if is_free_mail(domain):
        raise RequestValidationError([{"loc": location, "type": "value_error",
                                       "msg": f"{domain} is a free-mail domain: it is no "
                                       "company's account"}])


class AccountIn(BaseModel):
    """An admin's say on an account: who owns it (kept against later won deals), or which
    other account the domain belongs to (acme.co.uk onto acme-corp.com)."""

    model_config = ConfigDict(extra="forbid")

    owner_rep_id: UUID | None = Field(default=None, description="the owning rep; null hands "
                                      "ownership back to the latest won deal")
    alias_of: str | None = Field(default=None, pattern=DOMAIN_PATTERN, max_length=253,
                                 description="the account this domain belongs to")

    @field_validator("alias_of")
    @classmethod
    def _company_domain(cls, value: str | None) -> str | None:
        if value is not None and is_free_mail(value):
            raise ValueError(f"{value} is a free-mail domain: it is no company's account")
        return value


class ContactOut(BaseModel):
    """A lead of the account that handoff has handed off."""

    lead_id: UUID
    email: str
    name: str | None
    lifecycle_stage: str | None
    owner_rep_id: UUID | None


class AccountOut(BaseModel):
    """An account: its owner, the domain it belongs to, its contacts and customers."""

    domain: str
    owner_rep_id: UUID | None
    owner_set_by: str | None = Field(description="the admin key that named the owner; null "
                                     "when the latest won deal made it")
    alias_of: str | None
    last_won_at: datetime | None
    contacts: list[ContactOut]
    customers: int = Field(description="contacts at stage customer or repeat_customer")


def _contact(row: Contact) -> ContactOut:
    name = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    return ContactOut(lead_id=row.lead_id, email=row.email, name=name,
                      lifecycle_stage=row.stage, owner_rep_id=row.owner_rep_id)


async def _account_out(uow: UnitOfWork, domain: str) -> AccountOut:
    account = await customer_repository.get_account(uow.connection, domain)
    rows = await customer_repository.account_contacts(uow.connection, [domain])
    if account is None and not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no account and no contact at this "
                            "domain")
    contacts = [_contact(row) for row in rows]
    return AccountOut(
        domain=domain, owner_rep_id=account.owner_rep_id if account else None,
        owner_set_by=account.owner_set_by if account else None,
        alias_of=account.alias_of if account else None,
        last_won_at=account.last_won_at if account else None, contacts=contacts,
        customers=sum(1 for c in contacts
                      if c.lifecycle_stage in ("customer", "repeat_customer")))


@router.get("/accounts/{domain}", response_model=AccountOut,
            dependencies=[Depends(require_scope("admin"))],
            responses={404: {"description": "no account and no contact at this domain"}})
async def get_account(domain: Domain, uow: UnitOfWork = Depends(unit_of_work)) -> AccountOut:
    """An account: who owns it and why, and its contacts with their lifecycle stages."""
    async with uow:
        return await _account_out(uow, domain)


@router.put("/accounts/{domain}", response_model=AccountOut,
            responses={404: {"description": "no rep with this owner_rep_id"}})
async def replace_account(domain: Domain, body: AccountIn,
                          uow: UnitOfWork = Depends(unit_of_work),
                          principal: Principal = Depends(require_scope("admin"))) -> AccountOut:
    """Name an account's owner (it keeps the account whoever wins its next deal), or map the
    domain onto another account; routing uses it from the next lead on."""
    _not_free_mail(domain, ("path", "domain"))
    if body.alias_of == domain:
        raise RequestValidationError([{"loc": ("body", "alias_of"), "type": "value_error",
                                       "msg": "a domain cannot belong to itself"}])
    async with uow:
        if body.owner_rep_id is not None and \
                await rep_repository.get_rep(uow.connection, body.owner_rep_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no rep with this owner_rep_id")
        await customer_repository.put_account(uow.connection, domain, body.owner_rep_id,
                                              body.alias_of, principal.name)
        out = await _account_out(uow, domain)
        await uow.commit()
    return out
