"""Existing customers and their accounts, as routing sees them. Pure, no I/O.

A lead belongs to the account of its company's email domain (leadloop.accounts; an admin may
map a domain onto another account). An account is owned by the rep who won its latest deal,
or by the rep an admin named. New interest from an existing customer, or from any contact of
an account with an owner, goes to that owner with the reason `existing_customer`, under the
customer accept SLA, instead of the new-lead rotation; a routing rule whose conditions name
`lifecycle_stage`, `existing_customer` or `account` says otherwise and wins.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from handoff.routing.domain import LeadFacts, RoutingRule
from leadloop.accounts import account_domain
from leadloop.lifecycle import is_customer

EXISTING_CUSTOMER_RULE = "existing_customer"
CUSTOMER_FIELDS = frozenset({"lifecycle_stage", "existing_customer", "account"})
"""Lead fields a routing rule names to route existing customers itself."""


@dataclass(frozen=True, slots=True)
class Account:
    """An account as handoff keeps it."""

    domain: str
    owner_rep_id: UUID | None = None
    owner_set_by: str | None = None
    alias_of: str | None = None
    last_won_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LeadStage:
    """A lead's lifecycle stage as outcomes announced it, and its owner once a customer."""

    stage: str
    owner_rep_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class CustomerContext:
    """What routing knows of a lead's standing: its stage, account, and who owns it."""

    stage: str | None = None
    account: str | None = None
    owner_rep_id: UUID | None = None
    owner_why: str = ""

    @property
    def existing_customer(self) -> bool:
        """A customer, or a contact of an account someone owns."""
        return is_customer(self.stage) or (self.account is not None
                                           and self.owner_rep_id is not None)

    def facts(self) -> dict[str, Any]:
        """The fields routing rules can test."""
        return {"lifecycle_stage": self.stage, "account": self.account,
                "existing_customer": self.existing_customer}


def account_of(email: str | None, accounts: Mapping[str, Account]) -> str | None:
    """The account a lead with `email` belongs to: its company domain, or the account an admin
    mapped that domain onto; None for free-mail addresses."""
    domain = account_domain(email)
    if domain is None:
        return None
    known = accounts.get(domain)
    return known.alias_of if known is not None and known.alias_of else domain


def customer_context(email: str | None, stage: LeadStage | None,
                     accounts: Mapping[str, Account]) -> CustomerContext:
    """A lead's standing: the account owner first, else the rep who won the lead's last
    deal (a customer whose account has no owner, e.g. a free-mail customer)."""
    account = account_of(email, accounts)
    known = accounts.get(account) if account is not None else None
    stage_name = stage.stage if stage is not None else None
    if known is not None and known.owner_rep_id is not None:
        why = "set by an admin" if known.owner_set_by else "won the account's latest deal"
        return CustomerContext(stage_name, account, known.owner_rep_id,
                               f"owner of account {account} ({why})")
    if stage is not None and is_customer(stage.stage) and stage.owner_rep_id is not None:
        return CustomerContext(stage_name, account, stage.owner_rep_id,
                               "rep who won the lead's latest deal")
    return CustomerContext(stage_name, account)


def with_customer_facts(facts: LeadFacts, context: CustomerContext) -> LeadFacts:
    """The lead's routing facts plus its standing, for rules to test."""
    return LeadFacts({**facts.values, **context.facts()})


def rule_routes_customers(rule: RoutingRule | None) -> bool:
    """Whether `rule` names a customer field: then it, not the owner, routes the lead."""
    return rule is not None and any(c.field in CUSTOMER_FIELDS for c in rule.conditions)
