"""Existing customers go to their owner (handoff.customers, handoff.assign.decide): the account
owner or the rep who won the lead's last deal, reason existing_customer, under the customer SLA;
not the new-lead rotation, unless a routing rule names customers."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from handoff.config import HandoffSettings
from handoff.customers.domain import (
    EXISTING_CUSTOMER_RULE,
    Account,
    CustomerContext,
    LeadStage,
    account_of,
    customer_context,
    with_customer_facts,
)
from handoff.routing.assign import RepLoads, decide, facts_of, handed_off
from handoff.routing.domain import Condition, RepProfile, RoutingRule
from handoff.routing.reference import Rep, RoutingTables
from leadloop.events.models import LeadProfile, LeadQualified

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SETTINGS = HandoffSettings(default_team="sales", accept_sla_s=300, customer_accept_sla_s=7200)
ANN, BOB, CAT = (UUID(int=n) for n in range(1, 4))


def _rep(rep_id: UUID, name: str, **fields: object) -> Rep:
    return Rep(RepProfile(id=rep_id, name=name, team="sales", **fields),  # type: ignore[arg-type]
               f"{name}@sales.example")


REPS = [_rep(ANN, "Ann"), _rep(BOB, "Bob"), _rep(CAT, "Cat", out_of_office_from=NOW)]
ACCOUNTS = {"acme-corp.com": Account("acme-corp.com", owner_rep_id=ANN),
            "acme.co.uk": Account("acme.co.uk", alias_of="acme-corp.com"),
            "away.example": Account("away.example", owner_rep_id=CAT)}


def _lead(email: str) -> LeadQualified:
    return LeadQualified(lead_id=UUID(int=500), score=80, grade="A", model_version=1,
                         profile=LeadProfile(email=email), qualified_at=NOW)


def _choose(email: str, stage: LeadStage | None = None,
            rules: tuple[RoutingRule, ...] = ()):  # type: ignore[no-untyped-def]
    lead = _lead(email)
    context = customer_context(email, stage, ACCOUNTS)
    tables = RoutingTables.of(rules, REPS)
    choice = decide(tables, with_customer_facts(facts_of(lead), context), NOW, SETTINGS,
                    RepLoads({}), {}, customer=context)
    return choice, handed_off(lead, choice, NOW)


def test_accounts_are_company_domains_with_admin_aliases() -> None:
    assert account_of("tom@acme-corp.com", ACCOUNTS) == "acme-corp.com"
    assert account_of("liz@acme.co.uk", ACCOUNTS) == "acme-corp.com"
    assert account_of("jane@gmail.com", ACCOUNTS) is None
    assert account_of("x@new.example", ACCOUNTS) == "new.example"


def test_a_colleague_of_a_customer_goes_to_the_account_owner_not_round_robin() -> None:
    choice, handoff = _choose("tom@acme-corp.com")
    assert (choice.rep and choice.rep.id, choice.rule) == (ANN, EXISTING_CUSTOMER_RULE)
    assert "owner of account acme-corp.com" in choice.reason
    assert choice.accept_sla == timedelta(hours=2)
    assert handoff.event.routing_rule == "existing_customer"
    assert handoff.event.account == "acme-corp.com"
    assert handoff.event.sla_deadline == NOW + timedelta(hours=2)


def test_a_free_mail_customer_goes_to_the_rep_who_won_its_deal() -> None:
    choice, handoff = _choose("jane@gmail.com", LeadStage("customer", owner_rep_id=BOB))
    assert (choice.rep and choice.rep.id, choice.rule) == (BOB, EXISTING_CUSTOMER_RULE)
    assert "won the lead's latest deal" in choice.reason
    assert handoff.event.lifecycle_stage == "customer" and handoff.event.account is None


def test_a_new_company_lead_is_no_existing_customer() -> None:
    context = customer_context("x@new.example", None, ACCOUNTS)
    assert not context.existing_customer
    choice, handoff = _choose("x@new.example")
    assert choice.rule != EXISTING_CUSTOMER_RULE
    assert handoff.event.lifecycle_stage is None


def test_an_absent_owner_passes_the_lead_on_and_says_so() -> None:
    choice, _ = _choose("pat@away.example")
    assert choice.rule != EXISTING_CUSTOMER_RULE and choice.rep is not None
    assert "the customer's owner Cat is unavailable" in choice.reason


def test_a_rule_naming_customers_routes_them_itself() -> None:
    rule = RoutingRule(UUID(int=9), 1, "customers-to-success", "sales",
                       [Condition("existing_customer", "eq", True)])
    choice, _ = _choose("tom@acme-corp.com", rules=(rule,))
    assert choice.rule == "customers-to-success@v1"


def test_the_stage_alone_makes_a_customer_existing() -> None:
    assert CustomerContext(stage="repeat_customer").existing_customer
    assert not CustomerContext(stage="opportunity").existing_customer
